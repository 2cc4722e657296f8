"""Metrics: each build transition counted once, durations observed, every name documented."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mosb_controller import arch
from mosb_controller.runtime.metrics import Metrics
from tests.support.metrics import samples

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_transition_repeated_by_a_second_pass_counts_once() -> None:
    m = Metrics()
    assert m.transition("uid-1", "ArchBuildStarted", "arm64")
    assert not m.transition("uid-1", "ArchBuildStarted", "arm64")  # the same pass, again
    assert m.transition("uid-2", "ArchBuildStarted", "arm64")  # a recreated MOSB: new uid
    m.transition("uid-1", "ArchBuildSucceeded", "arm64", 42.0)
    m.transition("uid-1", "ArchBuildSucceeded", "arm64", 42.0)
    m.transition("uid-1", "ArchBuildReused", "amd64")
    m.transition("uid-1", "ArchBuildFailed", "s390x")
    m.transition("uid-1", "ArchBuildInterrupted", "ppc64le")
    m.transition("uid-1", "BuildSucceeded", None, 3.0)  # the push Job's duration
    got = samples(m)
    assert got[("mosb_arch_builds_started_total", (("arch", "arm64"),))] == 2
    assert got[("mosb_arch_builds_succeeded_total", (("arch", "arm64"),))] == 1
    assert got[("mosb_arch_build_duration_seconds_count", (("arch", "arm64"),))] == 1
    assert got[("mosb_arch_build_duration_seconds_sum", (("arch", "arm64"),))] == 42.0
    assert got[("mosb_arch_builds_reused_total", (("arch", "amd64"),))] == 1
    failed = "mosb_arch_builds_failed_total"
    assert got[(failed, (("arch", "s390x"), ("reason", "Failed")))] == 1
    assert got[(failed, (("arch", "ppc64le"), ("reason", "Interrupted")))] == 1
    assert got[("mosb_push_duration_seconds_count", ())] == 1


def test_pool_architectures_follow_the_current_record() -> None:
    nodes = [
        arch.node_facts({"metadata": {"name": n, "labels": {"kubernetes.io/arch": a, "p": "w"}}})
        for n, a in (("a", "amd64"), ("b", "arm64"), ("c", "arm64"))
    ]
    record: list[arch.ClusterRecord | None] = [arch.detect(nodes, {"w": {}})]
    m = Metrics()
    m.watch_pools(lambda: record[0])
    got = samples(m)
    assert got[("mosb_pool_architectures", (("pool", "w"),))] == 2
    assert got[("mosb_pool_nodes", (("arch", "arm64"), ("pool", "w")))] == 2
    record[0] = arch.detect(nodes, {})  # the pool went away: so do its series
    assert not [k for k in samples(m) if k[0].startswith("mosb_pool_")]


def test_every_metric_is_documented_in_the_readme() -> None:
    m = Metrics()
    m.watch_pools(lambda: None)
    ours = {
        family.name
        for family in text_string_to_metric_families(generate_latest(m.registry).decode())
        if family.name.startswith("mosb_")
    }
    documented = set(re.findall(r"`(mosb_[a-z_]+)`", README.read_text()))
    # Counters are documented with their exported `_total` suffix.
    documented = {re.sub(r"_total$", "", name) for name in documented}
    assert ours, "no metrics registered"
    assert ours <= documented, f"undocumented metrics: {sorted(ours - documented)}"
