"""Pure tests of architecture detection: no cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mosb_controller import arch


def node(
    name: str,
    labels: dict[str, str] | None = None,
    info_arch: str | None = None,
    ready: bool = True,
    unschedulable: bool = False,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]
    }
    if info_arch is not None:
        status["nodeInfo"] = {"architecture": info_arch}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"unschedulable": unschedulable, "taints": taints or []},
        "status": status,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("amd64", "amd64"),
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("ARM64", "arm64"),
        ("ppc64le", "ppc64le"),
        ("s390x", "s390x"),
        ("riscv64", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_arch(raw: str | None, expected: str | None) -> None:
    assert arch.normalise_arch(raw) == expected


def test_label_wins_over_node_info_and_node_info_is_the_fallback() -> None:
    labelled = arch.node_facts(node("a", {arch.ARCH_LABEL: "arm64"}, info_arch="amd64"))
    info_only = arch.node_facts(node("b", {}, info_arch="x86_64"))
    nothing = arch.node_facts(node("c"))
    assert (labelled.arch, info_only.arch, nothing.arch) == ("arm64", "amd64", None)
    assert nothing.raw_arch == ""


def test_buildable_needs_ready_schedulable_and_tolerated_taints() -> None:
    labels = {arch.ARCH_LABEL: "arm64"}
    arch_taint = {"key": arch.ARCH_LABEL, "value": "arm64", "effect": "NoSchedule"}
    master_taint = {"key": "node-role.kubernetes.io/master", "value": "", "effect": "NoSchedule"}
    soft_taint = {"key": "x", "value": "y", "effect": "PreferNoSchedule"}
    assert arch.node_facts(node("a", labels)).buildable
    assert arch.node_facts(node("a", labels, taints=[arch_taint, soft_taint])).buildable
    assert not arch.node_facts(node("a", labels, ready=False)).buildable
    assert not arch.node_facts(node("a", labels, unschedulable=True)).buildable
    assert not arch.node_facts(node("a", labels, taints=[master_taint])).buildable
    assert not arch.node_facts(node("a", {arch.ARCH_LABEL: "riscv64"})).buildable


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {"a": "1"}, False),  # a null selector selects nothing
        ({}, {"a": "1"}, True),  # an empty one selects everything
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        (
            {
                "matchLabels": {"role": "worker"},
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}],
            },
            {"role": "worker", "zone": "z2"},
            False,
        ),
    ],
)
def test_selector_semantics(
    selector: dict[str, Any] | None, labels: dict[str, str], expected: bool
) -> None:
    assert arch.compile_selector(selector).matches(labels) is expected


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "a", "operator": "Gt", "values": ["1"]},
        {"key": "a", "operator": "In", "values": []},
        {"key": "a", "operator": "Exists", "values": ["x"]},
    ],
)
def test_invalid_selector_is_reported_per_pool(expression: dict[str, Any]) -> None:
    record = arch.detect(
        [arch.node_facts(node("n", {arch.ARCH_LABEL: "amd64", "a": "1"}))],
        {"bad": {"matchExpressions": [expression]}, "good": {}},
    )
    assert "bad" in record.invalid_pools and "bad" not in record.pools
    assert record.pools["good"].architectures == ("amd64",)
    assert json.loads(record.configmap_data()["pool.bad.json"])["error"]


def test_record_of_a_homogeneous_pool_in_a_heterogeneous_cluster() -> None:
    nodes = [
        arch.node_facts(node("w1", {arch.ARCH_LABEL: "amd64", "role": "worker"})),
        arch.node_facts(node("w2", {arch.ARCH_LABEL: "amd64", "role": "worker"}, ready=False)),
        arch.node_facts(node("i1", {arch.ARCH_LABEL: "arm64", "role": "infra"})),
        arch.node_facts(node("r1", {"role": "infra"}, info_arch="riscv64")),
    ]
    record = arch.detect(
        nodes,
        {
            "worker": {"matchLabels": {"role": "worker"}},
            "infra": {"matchLabels": {"role": "infra"}},
        },
    )
    assert record.annotation_value("worker") == "amd64"
    assert record.annotation_value("infra") == "arm64"
    worker = json.loads(record.configmap_data()["pool.worker.json"])
    # The NotReady node still counts for the pool (it needs the image later) but not
    # for where builds can run.
    assert worker == {
        "architectures": ["amd64"],
        "heterogeneous": False,
        "nodes": {"amd64": 2},
        "buildableNodes": {"amd64": 1},
        "unsupportedNodes": {},
    }
    cluster = json.loads(record.configmap_data()["cluster.json"])
    assert cluster["heterogeneous"] is True
    assert cluster["architectures"] == ["amd64", "arm64"]
    assert cluster["unsupportedNodes"] == {"r1": "riscv64"}
    assert record.pools["infra"].unsupported == {"r1": "riscv64"}
    assert record.annotation_value("missing") is None


# -- properties ------------------------------------------------------------------------
RAW_ARCHES = st.sampled_from(["amd64", "arm64", "ppc64le", "s390x", "x86_64", "aarch64", "riscv64"])
LABEL_KEYS = st.sampled_from(["role", "zone", "tier"])
LABEL_VALUES = st.sampled_from(["a", "b", "c"])

nodes_strategy = st.lists(
    st.builds(
        lambda i, raw, labels, ready, in_label: arch.node_facts(
            node(
                f"n{i}",
                {**labels, **({arch.ARCH_LABEL: raw} if in_label else {})},
                info_arch=None if in_label else raw,
                ready=ready,
            )
        ),
        st.integers(0, 10_000),
        RAW_ARCHES,
        st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3),
        st.booleans(),
        st.booleans(),
    ),
    max_size=30,
    unique_by=lambda n: n.name,
)
expression = st.builds(
    lambda key, op, values: {
        "key": key,
        "operator": op,
        **({"values": values} if op in {"In", "NotIn"} else {}),
    },
    LABEL_KEYS,
    st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(LABEL_VALUES, min_size=1, max_size=2),
)
selector_strategy = st.one_of(
    st.none(),
    st.builds(
        lambda labels, exprs: {"matchLabels": labels, "matchExpressions": exprs},
        st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
        st.lists(expression, max_size=2),
    ),
)
pools_strategy = st.dictionaries(st.sampled_from(["p1", "p2", "p3", "p4"]), selector_strategy)


def naive_pool_arches(
    nodes: list[arch.NodeFacts], selector: dict[str, Any] | None
) -> tuple[str, ...]:
    compiled = arch.compile_selector(selector)
    return tuple(sorted({n.arch for n in nodes if n.arch and compiled.matches(n.label_map)}))


@given(nodes_strategy, pools_strategy, st.randoms())
def test_detect_equals_naive_matching_in_any_order(
    nodes: list[arch.NodeFacts], pools: dict[str, Any], rnd: Any
) -> None:
    record = arch.detect(nodes, pools)
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    pool_items = list(pools.items())
    rnd.shuffle(pool_items)
    assert arch.detect(shuffled, dict(pool_items)).configmap_data() == record.configmap_data()
    for pool, selector in pools.items():
        assert record.pools[pool].architectures == naive_pool_arches(nodes, selector)
    assert sum(record.cluster.nodes.values()) + len(record.cluster.unsupported) == len(nodes)


node_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), nodes_strategy.filter(bool).map(lambda ns: ns[0])),
        st.tuples(st.just("remove"), st.integers(0, 10_000).map(lambda i: f"n{i}")),
        st.tuples(st.just("pools"), pools_strategy),
    ),
    max_size=40,
)


@given(node_ops, pools_strategy)
def test_tally_equals_detect_after_any_sequence_of_changes(
    ops: list[tuple[str, Any]], initial_pools: dict[str, Any]
) -> None:
    tally = arch.ArchTally()
    tally.set_pools(initial_pools)
    nodes: dict[str, arch.NodeFacts] = {}
    pools = dict(initial_pools)
    for op, value in ops:
        if op == "set":
            assert tally.set_node(value) is (nodes.get(value.name) != value)
            nodes[value.name] = value
        elif op == "remove":
            assert tally.remove_node(value) is (value in nodes)
            nodes.pop(value, None)
        else:
            pools = value
            tally.set_pools(pools)
        assert tally.record() == arch.detect(nodes.values(), pools)
