"""The PrometheusRule's alerts, checked by the real promtool (pinned, built by hack/setup.sh).

`promtool check rules` on the rule groups as the prometheus-operator hands them to
Prometheus (the `spec` of the PrometheusRule), and `promtool test rules` with
rules-tests.yaml: each alert fires on some synthetic series and stays silent on others.
Without promtool the tests skip (and fail in CI), naming what is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack import kube_paths
from tests.support.polling import require

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "manifests" / "monitoring" / "prometheusrule.yaml"
RULE_TESTS = Path(__file__).resolve().parent / "rules-tests.yaml"
README = ROOT / "README.md"


def promtool() -> str:
    path = kube_paths.promtool()
    require([] if path.exists() else [str(path)], "run hack/setup.sh to build the pinned promtool")
    return str(path)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULE.read_text())["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """rules.yaml (the PrometheusRule's groups) beside a copy of rules-tests.yaml."""
    spec = yaml.safe_load(RULE.read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules(rules_dir: Path) -> None:
    done = run(promtool(), "check", "rules", "rules.yaml", cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout + done.stderr


def test_promtool_rule_tests_pass(rules_dir: Path) -> None:
    done = run(promtool(), "test", "rules", RULE_TESTS.name, cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_fails_a_rule_test_that_expects_the_wrong_thing(rules_dir: Path) -> None:
    """The rule tests can fail: an alert expected where the series give none is an error."""
    tests = yaml.safe_load(RULE_TESTS.read_text())
    case = tests["tests"][0]["alert_rule_test"][0]
    case["exp_alerts"] = []  # it does fire here
    (rules_dir / "wrong.yaml").write_text(yaml.safe_dump(tests))
    done = run(promtool(), "test", "rules", "wrong.yaml", cwd=rules_dir)
    assert done.returncode != 0
    assert case["alertname"] in done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for alert in alerts():
        name = alert["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: never tested firing"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: never tested silent"


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_its_runbook_in_the_readme() -> None:
    anchors = {
        github_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", README.read_text(), re.M)
    }
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url.endswith(f"README.md#{alert['alert'].lower()}"), url
        assert alert["alert"].lower() in anchors, f"no README section {alert['alert']}"
        assert alert["labels"]["severity"] in ("warning", "critical", "info")
