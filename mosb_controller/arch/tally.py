"""`ArchTally`: the record kept up to date node by node, equal to `detect` over the same
nodes (property tests hold them equal). Pure."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from mosb_controller.arch.nodes import NodeFacts
from mosb_controller.arch.record import ArchSummary, ClusterRecord
from mosb_controller.arch.selector import Selector, SelectorError, compile_selector


class ArchTally:
    """The incremental form of `detect`: the operator's working copy of the record.

    A node change costs O(1); `record()` costs O(groups * pools), where a group is the set
    of nodes sharing the values of the label keys the pools select on. Nodes are regrouped
    only when the set of selector keys changes. Property tests hold it equal to `detect`.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, NodeFacts] = {}
        self._selectors: dict[str, Selector] = {}
        self._invalid: dict[str, str] = {}
        self._raw_pools: dict[str, Mapping[str, Any] | None] = {}
        self._keys: tuple[str, ...] = ()
        self._groups: dict[tuple[str | None, ...], _Group] = defaultdict(_Group)
        self._cluster = _Group()
        self._matches: dict[tuple[str, tuple[str | None, ...]], bool] = {}

    def set_node(self, facts: NodeFacts) -> bool:
        """Record a node's facts; True when they differ from what was recorded."""
        old = self._nodes.get(facts.name)
        if old == facts:
            return False
        if old is not None:
            self._account(old, -1)
        self._nodes[facts.name] = facts
        self._account(facts, +1)
        return True

    def remove_node(self, name: str) -> bool:
        old = self._nodes.pop(name, None)
        if old is None:
            return False
        self._account(old, -1)
        return True

    def replace_nodes(self, nodes: Mapping[str, NodeFacts]) -> bool:
        """Make the tally hold exactly `nodes` (after a full list); True if anything changed."""
        changed = False
        for name in [n for n in self._nodes if n not in nodes]:
            changed |= self.remove_node(name)
        for facts in nodes.values():
            changed |= self.set_node(facts)
        return changed

    def set_pools(self, pools: Mapping[str, Mapping[str, Any] | None]) -> None:
        if dict(pools) == self._raw_pools:
            return
        self._raw_pools = dict(pools)
        self._selectors, self._invalid = {}, {}
        for pool, raw in pools.items():
            try:
                self._selectors[pool] = compile_selector(raw)
            except SelectorError as exc:
                self._invalid[pool] = str(exc)
        self._matches.clear()
        keys = tuple(sorted(frozenset().union(*(s.keys for s in self._selectors.values()))))
        if keys != self._keys:
            self._keys = keys
            self._groups.clear()
            for node in self._nodes.values():
                self._groups[self._projection(node)].add(node, +1)

    def record(self) -> ClusterRecord:
        buildable = dict(self._cluster.buildable)
        pools = {}
        for pool, selector in sorted(self._selectors.items()):
            total = _Group()
            for projection, group in self._groups.items():
                key = (pool, projection)
                if key not in self._matches:
                    labels = {
                        k: v for k, v in zip(self._keys, projection, strict=True) if v is not None
                    }
                    self._matches[key] = selector.matches(labels)
                if self._matches[key]:
                    total.merge(group)
            pools[pool] = total.summary(buildable)
        return ClusterRecord(
            cluster=self._cluster.summary(buildable),
            pools=pools,
            invalid_pools=dict(self._invalid),
        )

    def _projection(self, node: NodeFacts) -> tuple[str | None, ...]:
        labels = dict(node.labels)
        return tuple(labels.get(k) for k in self._keys)

    def _account(self, node: NodeFacts, sign: int) -> None:
        projection = self._projection(node)
        self._groups[projection].add(node, sign)
        if not self._groups[projection]:
            del self._groups[projection]
            for pool in self._selectors:
                self._matches.pop((pool, projection), None)
        self._cluster.add(node, sign)


class _Group:
    """Counts for a set of nodes: per architecture, buildable, and the unsupported ones."""

    def __init__(self) -> None:
        self.nodes: Counter[str] = Counter()
        self.buildable: Counter[str] = Counter()
        self.unsupported: dict[str, str] = {}
        self.size = 0

    def __bool__(self) -> bool:
        return self.size > 0

    def add(self, node: NodeFacts, sign: int) -> None:
        self.size += sign
        arch = node.arch
        if arch is None:
            if sign > 0:
                self.unsupported[node.name] = node.raw_arch or "<not reported>"
            else:
                self.unsupported.pop(node.name, None)
            return
        self.nodes[arch] += sign
        if node.buildable:
            self.buildable[arch] += sign

    def merge(self, other: _Group) -> None:
        self.nodes.update(other.nodes)
        self.buildable.update(other.buildable)
        self.unsupported.update(other.unsupported)
        self.size += other.size

    def summary(self, cluster_buildable: Mapping[str, int]) -> ArchSummary:
        counts = {a: c for a, c in sorted(self.nodes.items()) if c > 0}
        arches = tuple(counts)
        return ArchSummary(
            architectures=arches,
            nodes=counts,
            buildable={a: cluster_buildable.get(a, 0) for a in arches},
            unsupported=dict(sorted(self.unsupported.items())),
        )
