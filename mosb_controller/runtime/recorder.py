"""Keeps the architecture record on the pools and in the ConfigMap, writing only changes.

Events only wake the recorder; each wake recomputes the whole record from the indexes
(level-triggered), diffs it against what the cluster shows, and writes the difference.
Bursts of events coalesce into one pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from api.names import ARCHITECTURES_ANNOTATION, GROUP, MANAGED_BY, MANAGED_BY_LABEL, VERSION
from mosb_controller import arch
from mosb_controller.cluster.kube import Kube
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)

RECORD_LABELS = {MANAGED_BY_LABEL: MANAGED_BY}
RETRY_DELAY_SECONDS = 2.0


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
class Observed:
    """An object's content as the watch last showed it, with its resourceVersion."""

    resource_version: str
    value: Any


class WriteMemory:
    """Remembers our own writes until the watch shows them.

    Between a write and its watch event the index still shows the old version; reading
    it then would repeat the write. While the index shows exactly the version we wrote
    over, what we wrote is taken as the truth; any other version (ours or someone
    else's) is newer and wins.
    """

    def __init__(self) -> None:
        self._written: dict[str, tuple[str, Any]] = {}

    def wrote(self, key: str, over: Observed | None, value: Any) -> None:
        self._written[key] = (over.resource_version if over else "", value)

    def effective(self, key: str, seen: Observed | None) -> Any:
        seen_version = seen.resource_version if seen else ""
        written = self._written.get(key)
        if written is not None and written[0] == seen_version:
            return written[1]
        self._written.pop(key, None)
        return seen.value if seen else None


@dataclass(frozen=True)
class RecordWrites:
    """What must be written to make the cluster show `record`. Empty means nothing."""

    pool_annotations: Mapping[str, str]
    configmap_data: Mapping[str, str] | None
    unsupported_reports: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.pool_annotations or self.configmap_data is not None)


def plan_record_writes(
    record: arch.ClusterRecord,
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
        f"{', '.join(arch.SUPPORTED_ARCHES)}: {listed}{more}. No image is built for them."
    )


class ArchitectureRecorder:
    """Owns the pass loop. `wake()` is cheap and may be called for every event."""

    def __init__(self, kube: Kube, settings: Settings) -> None:
        self.kube = kube
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pools: Mapping[str, Iterable[PoolView]] = {}
        self._configmaps: Mapping[str, Iterable[Observed]] = {}
        self._memory = WriteMemory()
        self._reported: dict[str, Mapping[str, str]] = {}
        self._tally = arch.ArchTally()
        self._nodes_listed = False  # no record before the whole node list was seen
        self._last_pools: dict[str, PoolView] = {}
        self.passes = 0
        self.record: arch.ClusterRecord | None = None
        self.ready = asyncio.Event()  # set after the first pass completes
        self.on_change: Callable[[], object] = lambda: None  # the record changed
        self.on_error: Callable[[], object] = lambda: None  # a pass failed (for metrics)
        self.leading = asyncio.Event()  # passes run only while set (leader election)
        self.leading.set()

    # -- inputs: each returns True when it woke the loop ------------------------------
    def observe(
        self,
        pools: Mapping[str, Iterable[PoolView]],
        configmaps: Mapping[str, Iterable[Observed]],
    ) -> None:
        """Point the recorder at kopf's live indexes of pools and our ConfigMap."""
        self._pools, self._configmaps = pools, configmaps

    def node_changed(self, name: str, facts: arch.NodeFacts | None) -> bool:
        changed = self._tally.remove_node(name) if facts is None else self._tally.set_node(facts)
        if changed:  # heartbeats and status churn change nothing we record: no pass
            self.wake()
        return changed

    def nodes_listed(self, nodes: dict[str, arch.NodeFacts]) -> None:
        self._tally.replace_nodes(nodes)
        self._nodes_listed = True
        self.wake()

    def pool_changed(self, name: str, view: PoolView | None) -> bool:
        if self._last_pools.get(name) == view:
            return False
        if view is None:
            self._last_pools.pop(name, None)
        else:
            self._last_pools[name] = view
        self.wake()
        return True

    def wake(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="arch-record")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- the loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await self.leading.wait()
            self._wake.clear()
            try:
                await self.sync_once()
            except Exception:
                log.exception("writing the architecture record failed; retrying")
                self.on_error()
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                self._wake.set()

    @staticmethod
    def _as_seen(view: PoolView) -> Observed:
        return Observed(view.resource_version, view.annotation)

    async def sync_once(self) -> None:
        if not self._nodes_listed:
            return  # the informer's first full list wakes us again
        seen_pools = [view for store in self._pools.values() for view in store]
        pools = [
            replace(p, annotation=self._memory.effective(f"pool/{p.name}", self._as_seen(p)))
            for p in seen_pools
        ]
        self._tally.set_pools({p.name: p.selector for p in pools})
        record = self._tally.record()
        seen_cm = next(iter(self._configmaps.get(self.settings.arch_configmap, ())), None)
        current = self._memory.effective("configmap", seen_cm)
        writes = plan_record_writes(record, pools, current, self._reported)
        by_name = {p.name: p for p in seen_pools}
        changed = record != self.record
        self.record = record
        self.passes += 1
        for pool, value in writes.pool_annotations.items():
            log.info("pool %s architectures: %s", pool, value or "(none)")
            await asyncio.to_thread(
                self.kube.set_pool_annotation, pool, ARCHITECTURES_ANNOTATION, value
            )
            self._memory.wrote(f"pool/{pool}", self._as_seen(by_name[pool]), value)
        if writes.configmap_data is not None:
            await asyncio.to_thread(
                self.kube.apply_configmap,
                self.settings.namespace,
                self.settings.arch_configmap,
                writes.configmap_data,
                RECORD_LABELS,
            )
            self._memory.wrote("configmap", seen_cm, dict(writes.configmap_data))
        for pool, nodes_by_name in writes.unsupported_reports.items():
            message = unsupported_message(nodes_by_name)
            log.warning("pool %s: %s", pool, message)
            involved = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MachineConfigPool",
                "metadata": {"name": pool, "uid": by_name[pool].uid if pool in by_name else None},
            }
            await asyncio.to_thread(
                self.kube.post_event, involved, "Warning", "UnsupportedArchitecture", message
            )
            self._reported[pool] = dict(nodes_by_name)
        for pool in set(self._reported) - {p for p, s in record.pools.items() if s.unsupported}:
            del self._reported[pool]
        for pool, error in record.invalid_pools.items():
            log.warning("pool %s has a node selector that cannot be evaluated: %s", pool, error)
        self.ready.set()
        if changed:
            self.on_change()
