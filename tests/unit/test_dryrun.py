"""`mosb-controller plan`: the dry run from YAML files, through the real CLI. Pure."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import (
    ARCH_BUILDS_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    REBUILD_ANNOTATION,
    RETRY_FAILED_ANNOTATION,
    ArchBuildPhase,
    ArchBuildRecord,
    encode_arch_builds,
)
from mosb_controller.cli import main
from tests.support.factories import (
    ARCHES,
    DIGEST,
    GROUP_VERSION,
    REPO,
    mosc_body,
    pool_body,
    rendered_body,
)

ENTRIES = [
    ("NoArch", "RUN echo hi"),
    ("S390X", "RUN echo s390x"),
    ("ARM64", "RUN echo arm64"),
]
JSON_KEYS = {
    "machineOSConfig",
    "machineOSBuild",
    "exists",
    "machineOSBuildAction",
    "architectures",
    "refusal",
    "notes",
}


def mosc(
    entries: Sequence[tuple[str, str]] = ENTRIES,
    *,
    name: str = "worker",
    annotations: Mapping[str, str] | None = None,
    pull: str | None = None,
) -> dict[str, Any]:
    return mosc_body(
        entries, name=name, pull_secret=pull, uid="uid-mosc", annotations=dict(annotations or {})
    )


def pool(name: str = "worker") -> list[dict[str, Any]]:
    """The pool (selecting nodes labelled pool=<name>) and its rendered MachineConfig."""
    return [pool_body(name), rendered_body(name)]


def nodes(arches: Sequence[str] = ARCHES, pool_name: str = "worker") -> dict[str, Any]:
    """A `kind: List` of Ready nodes, one per entry (as `kubectl get nodes -o yaml`)."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"{pool_name}-{a}-{i}",
                    "labels": {"kubernetes.io/arch": a, "pool": pool_name},
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
            for i, a in enumerate(arches)
        ],
    }


def record(arch: str, key: str, phase: ArchBuildPhase, **fields: Any) -> ArchBuildRecord:
    if phase.has_image:
        fields = {"digest": DIGEST[arch], "image": f"{REPO}@{DIGEST[arch]}", **fields}
    return ArchBuildRecord(arch=arch, key=key, phase=phase, **fields)


def mosb(
    name: str,
    records: Mapping[str, ArchBuildRecord],
    state: str | None = "Succeeded",
    mosc_name: str = "worker",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": GROUP_VERSION,
        "kind": "MachineOSBuild",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "labels": {MACHINE_OS_CONFIG_LABEL: mosc_name},
            "annotations": {ARCH_BUILDS_ANNOTATION: encode_arch_builds(records)},
        },
        "spec": {
            "machineConfig": {"name": f"rendered-{mosc_name}-1"},
            "machineOSConfig": {"name": mosc_name},
            "renderedImagePushSpec": f"{REPO}:{name}",
        },
    }
    if state is not None:
        # as the API stores it: metav1.Condition requires all of these
        condition = {
            "type": state,
            "status": "True",
            "reason": state,
            "message": "",
            "lastTransitionTime": "2026-11-20T10:05:00Z",
        }
        body["status"] = {"conditions": [condition]}
    return body


def secret(name: str, type_: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "mosb-controller"},
        "type": type_,
    }


class Run:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path, self.capsys = tmp_path, capsys
        self.files = 0

    def write(self, *docs: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
        flat: list[Mapping[str, Any]] = []
        for doc in docs:
            flat += [doc] if isinstance(doc, Mapping) else list(doc)
        self.files += 1
        path = self.tmp_path / f"objects-{self.files}.yaml"
        path.write_text(yaml.safe_dump_all(flat, sort_keys=False))
        return str(path)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(["plan", *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = self("-o", "json", *argv)
        data: dict[str, Any] = json.loads(out)
        return code, data


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(tmp_path, capsys)


def actions(data: Mapping[str, Any]) -> dict[str, str]:
    return {a["arch"]: a["action"] for a in data["architectures"]}


def planned(run: Run, *docs: Any) -> tuple[str, dict[str, str]]:
    """The MachineOSBuild name and the per-architecture keys a dry run shows."""
    code, data = run.json("-f", run.write(*docs))
    assert code == 0
    return data["machineOSBuild"], {a["arch"]: a["key"] for a in data["architectures"]}


def keys(run: Run, *docs: Any) -> dict[str, str]:
    return planned(run, *docs)[1]


# -- decisions -----------------------------------------------------------------------------


def test_a_new_mosc_on_a_four_arch_pool_builds_every_architecture(run: Run) -> None:
    code, out, err = run("-f", run.write(mosc(), pool(), nodes()))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["MachineOSConfig", "worker"]
    assert lines[1].startswith("MachineOSBuild   worker-")
    assert lines[1].endswith("would be created")
    assert lines[2].split(None, 1) == ["Architectures", "amd64, arm64, ppc64le, s390x"]
    rows = [line.split(None, 3) for line in lines[4:9]]
    assert rows[0] == ["ARCH", "ACTION", "KEY", "REASON"]
    assert [r[:2] for r in rows[1:]] == [[a, "build"] for a in ARCHES]
    assert all(len(r[2]) == 12 for r in rows[1:])
    assert all(r[3] == "no earlier image with these inputs" for r in rows[1:])
    assert "secrets not checked" in out
    assert "registry not checked" in out


def test_an_earlier_build_with_the_same_keys_is_reused_for_those_architectures(run: Run) -> None:
    key = keys(run, mosc(), pool(), nodes())
    records = {
        a: record(a, key[a], ArchBuildPhase.SUCCEEDED) for a in ("amd64", "arm64", "ppc64le")
    }
    records["s390x"] = record("s390x", "an-older-s390x-key", ArchBuildPhase.SUCCEEDED)
    earlier = mosb("worker-earlier", records)

    code, data = run.json("-f", run.write(mosc(), pool(), nodes(), earlier))
    assert code == 0
    assert actions(data) == {
        "amd64": "reuse",
        "arm64": "reuse",
        "ppc64le": "reuse",
        "s390x": "build",
    }
    assert (data["exists"], data["machineOSBuildAction"]) == (False, "create")
    reused = {a["arch"]: a["reason"] for a in data["architectures"] if a["action"] == "reuse"}
    assert (
        reused["amd64"] == f"same inputs as worker-earlier, image {REPO}@{DIGEST['amd64']} exists"
    )
    assert f"{REPO}@{DIGEST['amd64']}: assumed to exist (not checked)" in data["notes"]

    code, out, _ = run("-f", run.write(mosc(), pool(), nodes(), earlier))
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()[5:9]] == ["reuse"] * 3 + ["build"]


def test_reordering_containerfile_entries_gives_byte_identical_output(run: Run) -> None:
    outputs = []
    for entries in (ENTRIES, list(reversed(ENTRIES)), [ENTRIES[1], ENTRIES[0], ENTRIES[2]]):
        # Nodes listed in another order too: the pool's architectures are a set.
        objects = run.write(
            mosc(entries), pool(), nodes(ARCHES[::-1] if entries != ENTRIES else ARCHES)
        )
        outputs.append((run("-f", objects), run("-o", "json", "-f", objects)))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0][0] == 0


def test_json_output_has_the_stable_keys(run: Run) -> None:
    code, data = run.json("-f", run.write(mosc(), pool(), nodes()))
    assert code == 0
    assert set(data) == JSON_KEYS
    assert data["machineOSConfig"] == "worker"
    assert data["machineOSBuild"].startswith("worker-")
    assert data["refusal"] is None
    assert [set(a) for a in data["architectures"]] == [{"arch", "action", "key", "reason"}] * 4
    assert all(len(a["key"]) == 64 for a in data["architectures"])  # the records' full key


def test_a_homogeneous_pool_has_one_architecture(run: Run) -> None:
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(["arm64", "arm64", "arm64"])))
    assert code == 0
    assert actions(data) == {"arm64": "build"}


def test_objects_from_several_files_and_stdin(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    text = yaml.safe_dump_all([mosc(), *pool()])
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, data = run.json("-f", "-", "-f", run.write(nodes()), "-f", run.write(nodes()))
    assert code == 0
    assert len(data["architectures"]) == 4  # the same nodes twice count once


# -- the existing MachineOSBuild -------------------------------------------------------------


def _current(run: Run, phase: ArchBuildPhase, state: str | None, **fields: Any) -> dict[str, Any]:
    name, key = planned(run, mosc(), pool(), nodes())
    records = {a: record(a, key[a], ArchBuildPhase.SUCCEEDED) for a in ARCHES[:3]}
    records["s390x"] = record("s390x", key["s390x"], phase, **fields)
    return mosb(name, records, state)


def test_an_existing_finished_build_is_shown_as_done(run: Run) -> None:
    current = _current(run, ArchBuildPhase.SUCCEEDED, "Succeeded")
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(), current))
    assert code == 0
    assert (data["exists"], data["machineOSBuildAction"]) == (True, "keep")
    assert set(actions(data).values()) == {"done"}
    _, out, _ = run("-f", run.write(mosc(), pool(), nodes(), current))
    assert "exists already (Succeeded)" in out.splitlines()[1]


def test_a_rebuild_request_recreates_and_builds_everything(run: Run) -> None:
    current = _current(run, ArchBuildPhase.SUCCEEDED, "Succeeded")
    edited = mosc(annotations={REBUILD_ANNOTATION: ""})
    code, data = run.json("-f", run.write(edited, pool(), nodes(), current))
    assert code == 0
    assert (data["exists"], data["machineOSBuildAction"]) == (True, "recreate")
    assert set(actions(data).values()) == {"build"}
    assert {a["reason"] for a in data["architectures"]} == {"rebuild requested"}


def test_a_retry_rebuilds_only_the_failed_architecture(run: Run) -> None:
    current = _current(
        run, ArchBuildPhase.FAILED, "Failed", job="j-s390x", reason="JobFailed", message="boom"
    )
    edited = mosc(annotations={RETRY_FAILED_ANNOTATION: ""})
    code, data = run.json("-f", run.write(edited, pool(), nodes(), current))
    assert code == 0
    assert data["machineOSBuildAction"] == "recreate"
    # The recreated build finds the tags the failed one pushed (as recorded, not checked).
    assert actions(data) == {
        "amd64": "reuse",
        "arm64": "reuse",
        "ppc64le": "reuse",
        "s390x": "build",
    }


def test_an_unseen_job_is_shown_as_recorded_not_as_interrupted(run: Run) -> None:
    current = _current(
        run, ArchBuildPhase.BUILDING, "Building", job="j-s390x", message="running on node n"
    )
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(), current))
    assert code == 0
    assert actions(data)["s390x"] == "in progress"
    assert "s390x: building, running on node n" in {a["reason"] for a in data["architectures"]}
    assert "Jobs not seen: architectures whose Job ran are shown as recorded" in data["notes"]


def test_an_unfinished_other_build_is_removed_first(run: Run) -> None:
    key = keys(run, mosc(), pool(), nodes())
    old = {a: record(a, key[a], ArchBuildPhase.SUCCEEDED) for a in ARCHES}
    old["s390x"] = record("s390x", "older", ArchBuildPhase.BUILDING, job="j")
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(), mosb("worker-old", old, None)))
    assert code == 0
    # Its records go with it, so nothing of it is reused.
    assert set(actions(data).values()) == {"build"}
    assert any(
        n.startswith("first removes unfinished MachineOSBuild worker-old") for n in data["notes"]
    )


# -- refusals and bad input ------------------------------------------------------------------


def test_no_node_of_a_supported_architecture_is_a_refusal(run: Run) -> None:
    code, out, _ = run("-f", run.write(mosc(), pool(), nodes(["riscv64"])))
    assert code == 2
    assert "Refused          NoArchitectures: MachineConfigPool worker selects no node" in out
    assert "node worker-riscv64-0 reports architecture riscv64, which is not supported" in out
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(["riscv64"])))
    assert code == 2
    assert data["refusal"]["reason"] == "NoArchitectures"
    assert (data["machineOSBuild"], data["architectures"]) == (None, [])


def test_a_missing_secret_is_a_refusal_when_secrets_are_given(run: Run) -> None:
    given = run.write(mosc(pull="pull"), pool(), nodes(), secret("push"))
    code, out, _ = run("-f", given)
    assert code == 2
    assert "PullSecretNotFound: the pull secret pull does not exist in namespace" in out
    assert "secrets not checked" not in out

    wrong = run.write(mosc(), pool(), nodes(), secret("push", "Opaque"))
    code, data = run.json("-f", wrong)
    assert (code, data["refusal"]["reason"]) == (2, "PushSecretWrongType")

    present = run.write(mosc(pull="pull"), pool(), nodes(), secret("push"), secret("pull"))
    code, data = run.json("-f", present)
    assert (code, data["refusal"]) == (0, None)
    assert not any("secrets" in n for n in data["notes"])


def test_a_secret_in_another_namespace_does_not_count(run: Run) -> None:
    elsewhere = {**secret("push"), "metadata": {"name": "push", "namespace": "default"}}
    code, data = run.json("-f", run.write(mosc(), pool(), nodes(), elsewhere))
    assert (code, data["refusal"]["reason"]) == (2, "PushSecretNotFound")
    code, data = run.json(
        "--namespace", "default", "-f", run.write(mosc(), pool(), nodes(), elsewhere)
    )
    assert (code, data["refusal"]) == (0, None)


def test_a_malformed_mosc_exits_2_naming_the_field(run: Run) -> None:
    bad = mosc([("RISCV64", "RUN true")])
    del bad["spec"]["renderedImagePushSecret"]
    code, out, err = run("-f", run.write(bad, pool(), nodes()))
    assert (code, out) == (2, "")
    assert "MachineOSConfig worker is invalid:" in err
    assert "spec.renderedImagePushSecret: Field required" in err
    assert "spec.containerFile[0].containerfileArch" in err
    assert "Traceback" not in err


def test_several_moscs_need_mosc(run: Run) -> None:
    objects = run.write(
        mosc(), mosc(name="infra"), pool(), pool("infra"), nodes(), nodes(["amd64"], "infra")
    )
    code, out, err = run("-f", objects)
    assert (code, out) == (2, "")
    assert err.strip() == (
        "mosb-controller plan: several MachineOSConfigs given (infra, worker): pick one with --mosc"
    )
    code, data = run.json("-f", objects, "--mosc", "infra")
    assert (code, actions(data)) == (0, {"amd64": "build"})
    code, _, err = run("-f", objects, "--mosc", "nope")
    assert code == 2
    assert "no MachineOSConfig nope in the input (given: infra, worker)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--live", "-f", "x.yaml"], "give either --live or -f, not both"),
        ([], "give -f FILE"),
        (["-f", "/nonexistent/objects.yaml"], "/nonexistent/objects.yaml: cannot read"),
        (["-f", "{bad}", "--authfile", "/nonexistent"], "--authfile is for --check-registry"),
        (["-f", "{bad}", "--build-backoff-limit", "99"], "build_backoff_limit"),
        (["-f", "{bad}"], "not valid YAML"),
        (["-f", "{empty}"], "no MachineOSConfig in the input"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    run: Run, tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "empty.yaml").write_text("")
    argv = [a.format(bad=tmp_path / "bad.yaml", empty=tmp_path / "empty.yaml") for a in argv]
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_an_invalid_pool_selector_exits_2(run: Run) -> None:
    objects = pool()
    objects[0]["spec"]["nodeSelector"] = {
        "matchExpressions": [{"key": "pool", "operator": "In", "values": []}]
    }
    code, _, err = run("-f", run.write(mosc(), objects, nodes()))
    assert code == 2
    assert "MachineConfigPool worker" in err
    assert "Traceback" not in err


def test_a_missing_pool_is_a_refusal(run: Run) -> None:
    code, data = run.json("-f", run.write(mosc(), nodes()))
    assert (code, data["refusal"]["reason"]) == (2, "PoolNotFound")
