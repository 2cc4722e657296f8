"""A pool's architectures and the cluster's, as recorded (annotation and ConfigMap). Pure."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api import encode_architectures
from mosb_controller.arch.nodes import NodeFacts
from mosb_controller.arch.selector import Selector, SelectorError, compile_selector


@dataclass(frozen=True)
class ArchSummary:
    """Architectures of a set of nodes. `unsupported` maps node name → reported value."""

    architectures: tuple[str, ...]
    nodes: Mapping[str, int]
    buildable: Mapping[str, int]
    unsupported: Mapping[str, str] = field(default_factory=dict)

    @property
    def heterogeneous(self) -> bool:
        return len(self.architectures) > 1

    def to_json(self) -> dict[str, Any]:
        return {
            "architectures": list(self.architectures),
            "heterogeneous": self.heterogeneous,
            "nodes": dict(sorted(self.nodes.items())),
            "buildableNodes": dict(sorted(self.buildable.items())),
            "unsupportedNodes": dict(sorted(self.unsupported.items())),
        }


@dataclass(frozen=True)
class ClusterRecord:
    cluster: ArchSummary
    pools: Mapping[str, ArchSummary]
    invalid_pools: Mapping[str, str] = field(default_factory=dict)  # pool → selector error

    def annotation_value(self, pool: str) -> str | None:
        summary = self.pools.get(pool)
        return None if summary is None else encode_architectures(summary.architectures)

    def configmap_data(self) -> dict[str, str]:
        """ConfigMap data: `cluster.json` and one `pool.<name>.json` per pool."""
        data = {"cluster.json": _dump(self.cluster.to_json())}
        for pool, summary in sorted(self.pools.items()):
            data[f"pool.{pool}.json"] = _dump(summary.to_json())
        for pool, error in sorted(self.invalid_pools.items()):
            data[f"pool.{pool}.json"] = _dump({"error": error})
        return data


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _summarise(nodes: Iterable[NodeFacts], buildable: Mapping[str, int]) -> ArchSummary:
    counts: Counter[str] = Counter()
    unsupported: dict[str, str] = {}
    for node in nodes:
        arch = node.arch
        if arch is None:
            unsupported[node.name] = node.raw_arch or "<not reported>"
        else:
            counts[arch] += 1
    arches = tuple(sorted(counts))
    return ArchSummary(
        architectures=arches,
        nodes=dict(sorted(counts.items())),
        buildable={a: buildable.get(a, 0) for a in arches},
        unsupported=unsupported,
    )


def detect(
    nodes: Iterable[NodeFacts], pools: Mapping[str, Mapping[str, Any] | None]
) -> ClusterRecord:
    """The architecture record of a cluster: per pool (by its nodeSelector) and overall.

    Cost is O(nodes + groups * pools): nodes are grouped by the values of just the label
    keys the selectors use, and each group is matched once.
    """
    all_nodes = list(nodes)
    compiled: dict[str, Selector] = {}
    invalid: dict[str, str] = {}
    for pool, raw in pools.items():
        try:
            compiled[pool] = compile_selector(raw)
        except SelectorError as exc:
            invalid[pool] = str(exc)
    keys = sorted(frozenset().union(*(s.keys for s in compiled.values())))
    groups: dict[tuple[str | None, ...], list[NodeFacts]] = defaultdict(list)
    for node in all_nodes:
        labels = node.label_map
        groups[tuple(labels.get(k) for k in keys)].append(node)
    members: dict[str, list[NodeFacts]] = {pool: [] for pool in compiled}
    for projection, group in groups.items():
        labels = {k: v for k, v in zip(keys, projection, strict=True) if v is not None}
        for pool, selector in compiled.items():
            if selector.matches(labels):
                members[pool].extend(group)
    buildable = Counter(n.arch for n in all_nodes if n.buildable and n.arch)
    cluster_buildable = {str(a): c for a, c in buildable.items()}
    return ClusterRecord(
        cluster=_summarise(all_nodes, cluster_buildable),
        pools={pool: _summarise(m, cluster_buildable) for pool, m in sorted(members.items())},
        invalid_pools=invalid,
    )
