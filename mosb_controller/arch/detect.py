"""Node → architecture, pool → architecture set, cluster record. Pure: no I/O.

A node's architecture is its `kubernetes.io/arch` label, else `status.nodeInfo.architecture`,
normalised (`x86_64`→`amd64`, `aarch64`→`arm64`). Anything else is kept as *unsupported*
and reported by the caller; it is never guessed and never silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ARCH_LABEL = "kubernetes.io/arch"
SUPPORTED_ARCHES: tuple[str, ...] = ("amd64", "arm64", "ppc64le", "s390x")
_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "arm64v8": "arm64"}
# Taints some clusters put on non-default architectures; build Jobs tolerate them.
ARCH_TAINT_KEYS: tuple[str, ...] = (ARCH_LABEL, "multiarch.openshift.io/arch")
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def normalise_arch(raw: str | None) -> str | None:
    """The supported architecture `raw` names, or None for anything else."""
    if not raw:
        return None
    value = raw.strip().lower()
    value = _ALIASES.get(value, value)
    return value if value in SUPPORTED_ARCHES else None


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeFacts:
    """The few facts about a node the controller acts on; equal facts mean no work."""

    name: str
    labels: tuple[tuple[str, str], ...]  # sorted items, hashable
    raw_arch: str  # as reported ("" when neither label nor nodeInfo says)
    ready: bool
    unschedulable: bool
    taints: tuple[Taint, ...] = ()

    @property
    def arch(self) -> str | None:
        return normalise_arch(self.raw_arch)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def buildable(self) -> bool:
        """A build Job for this node's architecture can be scheduled and run here."""
        arch = self.arch
        if arch is None or not self.ready or self.unschedulable:
            return False
        tolerated = build_tolerations(arch)
        return all(
            _tolerates(tolerated, taint)
            for taint in self.taints
            if taint.effect in _BLOCKING_EFFECTS
        )


def node_facts(node: Mapping[str, Any]) -> NodeFacts:
    """Extract NodeFacts from a v1 Node object (as a dict)."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    raw_arch = labels.get(ARCH_LABEL) or (status.get("nodeInfo") or {}).get("architecture") or ""
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    taints = tuple(
        sorted(
            (
                Taint(str(t.get("key", "")), str(t.get("value") or ""), str(t.get("effect", "")))
                for t in spec.get("taints") or []
            ),
            key=lambda t: (t.key, t.value, t.effect),
        )
    )
    return NodeFacts(
        name=str(meta.get("name", "")),
        labels=tuple(sorted(labels.items())),
        raw_arch=str(raw_arch),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        taints=taints,
    )


def build_tolerations(arch: str) -> list[dict[str, str]]:
    """Tolerations a build Job for `arch` carries: the architecture taints of its own arch."""
    return [
        {"key": key, "operator": "Equal", "value": arch, "effect": effect}
        for key in ARCH_TAINT_KEYS
        for effect in sorted(_BLOCKING_EFFECTS)
    ]


def _tolerates(tolerations: Sequence[Mapping[str, str]], taint: Taint) -> bool:
    return any(
        t["key"] == taint.key and t["value"] == taint.value and t["effect"] == taint.effect
        for t in tolerations
    )


# -- label selectors -------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present  # DoesNotExist


class SelectorError(ValueError):
    """A label selector Kubernetes itself would reject."""


@dataclass(frozen=True)
class Selector:
    """A compiled metav1.LabelSelector. `None` selects nothing; `{}` selects everything."""

    requirements: tuple[Requirement, ...] | None

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requirements or ())

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.requirements is None:
            return False
        return all(r.matches(labels) for r in self.requirements)


def compile_selector(selector: Mapping[str, Any] | None) -> Selector:
    if selector is None:
        return Selector(None)
    reqs = [
        Requirement(str(k), "In", frozenset({str(v)}))
        for k, v in (selector.get("matchLabels") or {}).items()
    ]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        values = frozenset(str(v) for v in expr.get("values") or [])
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise SelectorError(f"unknown selector operator {op!r} for key {expr.get('key')!r}")
        if op in {"In", "NotIn"} and not values:
            raise SelectorError(f"operator {op} for key {expr.get('key')!r} needs values")
        if op in {"Exists", "DoesNotExist"} and values:
            raise SelectorError(f"operator {op} for key {expr.get('key')!r} takes no values")
        reqs.append(Requirement(str(expr.get("key")), str(op), values))
    return Selector(tuple(reqs))


# -- the record ------------------------------------------------------------------------


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
        return None if summary is None else ",".join(summary.architectures)

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
