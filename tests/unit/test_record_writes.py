"""What the architecture record needs written (arch/writes.py): pure, no API. The recorder
applies exactly these; here, that a current cluster needs nothing and each change needs
only its own write."""

from __future__ import annotations

from typing import Any

from mosb_controller import arch
from mosb_controller.arch.writes import PoolView, plan_record_writes, unsupported_message


def node(name: str, raw_arch: str, **labels: str) -> arch.NodeFacts:
    body: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"kubernetes.io/arch": raw_arch, **labels}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    return arch.node_facts(body)


NODES = [node("a", "amd64", role="w"), node("b", "arm64", role="w"), node("c", "riscv64", role="w")]
SELECTORS = {"worker": {"matchLabels": {"role": "w"}}, "infra": {"matchLabels": {"role": "i"}}}
RECORD = arch.detect(NODES, SELECTORS)


def pools(worker: str | None, infra: str | None) -> list[PoolView]:
    return [
        PoolView("worker", SELECTORS["worker"], worker),
        PoolView("infra", SELECTORS["infra"], infra),
    ]


def test_a_cluster_that_shows_the_record_needs_no_write() -> None:
    writes = plan_record_writes(
        RECORD, pools("amd64,arm64", ""), RECORD.configmap_data(), {"worker": {"c": "riscv64"}}
    )
    assert writes.pool_annotations == {} and writes.configmap_data is None
    assert writes.unsupported_reports == {}


def test_each_stale_annotation_and_a_stale_configmap_are_written() -> None:
    writes = plan_record_writes(RECORD, pools("amd64", None), None, {})
    assert writes.pool_annotations == {"worker": "amd64,arm64", "infra": ""}
    assert writes.configmap_data == RECORD.configmap_data()


def test_unsupported_nodes_are_reported_once_per_change() -> None:
    first = plan_record_writes(RECORD, pools("amd64,arm64", ""), RECORD.configmap_data(), {})
    assert first.unsupported_reports == {"worker": {"c": "riscv64"}}
    message = unsupported_message(first.unsupported_reports["worker"])
    assert message.startswith("1 node(s) report an architecture outside amd64, arm64")
    assert "c (riscv64)" in message
