"""A node's architecture, and whether a build may run on it. Pure.

A node's architecture is its `kubernetes.io/arch` label, else `status.nodeInfo.architecture`,
normalised (`x86_64`→`amd64`, `aarch64`→`arm64`). Anything else is kept as *unsupported*
and reported by the caller; it is never guessed and never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api import KubeArch

ARCH_LABEL = "kubernetes.io/arch"
SUPPORTED_ARCHES: tuple[str, ...] = tuple(a.value for a in KubeArch)  # the API's enum
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
