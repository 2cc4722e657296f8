"""What the architecture record needs written: pure, over what the watch shows.

The recorder (`runtime.recorder`) keeps pools' annotations and the record ConfigMap equal
to the record `ArchTally` computes; this module says which writes that takes, so a pass
that finds everything current writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api import ARCHITECTURES_ANNOTATION
from mosb_controller.arch.nodes import SUPPORTED_ARCHES
from mosb_controller.arch.record import ClusterRecord


@dataclass(frozen=True)
class PoolView:
    """What the recorder needs of a MachineConfigPool."""

    name: str
    selector: Mapping[str, Any] | None
    annotation: str | None  # current value of ARCHITECTURES_ANNOTATION
    resource_version: str = field(default="", compare=False)
    uid: str = field(default="", compare=False)


def pool_view(body: Mapping[str, Any]) -> PoolView:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    selector = spec.get("nodeSelector")
    return PoolView(
        name=str(meta.get("name", "")),
        selector=None if selector is None else dict(selector),
        annotation=(meta.get("annotations") or {}).get(ARCHITECTURES_ANNOTATION),
        resource_version=str(meta.get("resourceVersion", "")),
        uid=str(meta.get("uid", "")),
    )


@dataclass(frozen=True)
class Seen:
    """An object's content as the watch last showed it, with its resourceVersion."""

    resource_version: str
    value: Any


@dataclass(frozen=True)
class RecordWrites:
    """What must be written to make the cluster show `record`. Empty means nothing."""

    pool_annotations: Mapping[str, str]
    configmap_data: Mapping[str, str] | None
    unsupported_reports: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def plan_record_writes(
    record: ClusterRecord,
    pools: Iterable[PoolView],
    configmap_data: Mapping[str, str] | None,
    reported_unsupported: Mapping[str, Mapping[str, str]],
) -> RecordWrites:
    """Pure: the writes that bring the pools' annotations and the ConfigMap up to date,
    and the pools whose set of unsupported nodes changed since it was last reported."""
    annotations = {}
    for pool in pools:
        wanted = record.annotation_value(pool.name)
        if wanted is not None and wanted != pool.annotation:
            annotations[pool.name] = wanted
    data = record.configmap_data()
    reports = {
        name: summary.unsupported
        for name, summary in record.pools.items()
        if summary.unsupported and dict(summary.unsupported) != reported_unsupported.get(name)
    }
    return RecordWrites(
        pool_annotations=annotations,
        configmap_data=None
        if configmap_data is not None and dict(configmap_data) == data
        else data,
        unsupported_reports=reports,
    )


def unsupported_message(nodes: Mapping[str, str]) -> str:
    listed = ", ".join(f"{node} ({raw})" for node, raw in sorted(nodes.items())[:10])
    more = f" and {len(nodes) - 10} more" if len(nodes) > 10 else ""
    return (
        f"{len(nodes)} node(s) report an architecture outside "
        f"{', '.join(SUPPORTED_ARCHES)}: {listed}{more}. No image is built for them."
    )
