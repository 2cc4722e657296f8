"""Keeps the architecture record on the pools and in the ConfigMap, writing only changes.

Events only wake the recorder; each wake recomputes the whole record from the indexes
(level-triggered), diffs it against what the cluster shows, and writes the difference.
Bursts of events coalesce into one pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from api import (
    API_VERSION,
    ARCHITECTURES_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    EventReason,
    EventType,
    MachineConfigPool,
)
from mosb_controller import arch
from mosb_controller.arch.writes import PoolView, Seen, plan_record_writes, unsupported_message
from mosb_controller.cluster.kube import Kube
from mosb_controller.runtime.queue import WorkQueue, open_gate
from mosb_controller.runtime.written import OwnWrites
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)

RECORD_LABELS = {MANAGED_BY_LABEL: MANAGED_BY}
RECORD_KEY = "record"  # the whole record is one key: every pass recomputes all of it


class ArchitectureRecorder:
    """Owns the record's passes: one key in a work queue of its own, so bursts of events
    coalesce into one pass. `wake()` is cheap and may be called for every event."""

    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        own_writes: OwnWrites | None = None,
        leading: asyncio.Event | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self._pools: Mapping[str, Iterable[PoolView]] = {}
        self._configmaps: Mapping[str, Iterable[Seen]] = {}
        self._own_writes = own_writes or OwnWrites()
        self._reported: dict[str, Mapping[str, str]] = {}
        self._tally = arch.ArchTally()
        self._nodes_listed = False  # no record before the whole node list was seen
        self._last_pools: dict[str, PoolView] = {}
        self.record: arch.ClusterRecord | None = None
        self.on_change: Callable[[], object] = lambda: None  # the record changed
        self.on_error: Callable[[], object] = lambda: None  # a pass failed (for metrics)
        self.leading = leading or open_gate()  # passes run only while set
        self._queue = WorkQueue(
            self._pass, workers=1, gate=self.leading, on_error=self._failed, base_delay=2.0
        )

    # -- inputs: each returns True when it woke the loop ------------------------------
    def observe(
        self,
        pools: Mapping[str, Iterable[PoolView]],
        configmaps: Mapping[str, Iterable[Seen]],
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
        self._queue.add(RECORD_KEY)

    async def stop(self) -> None:
        await self._queue.stop()

    def _failed(self, key: str, exc: Exception) -> None:
        log.error("writing the architecture record failed; retrying", exc_info=exc)
        self.on_error()

    async def _pass(self, key: str) -> float | None:
        await self.sync_once()
        return None

    @staticmethod
    def _seen_pool(view: PoolView) -> tuple[str, str | None]:
        return view.resource_version, view.annotation

    async def sync_once(self) -> None:
        if not self._nodes_listed:
            return  # the informer's first full list wakes us again
        seen_pools = [view for store in self._pools.values() for view in store]
        pools = [
            replace(p, annotation=self._own_writes.effective(("pool", p.name), *self._seen_pool(p)))
            for p in seen_pools
        ]
        self._tally.set_pools({p.name: p.selector for p in pools})
        record = self._tally.record()
        seen_cm = next(iter(self._configmaps.get(self.settings.arch_configmap, ())), None)
        seen_version = seen_cm.resource_version if seen_cm else ""
        current = self._own_writes.effective(
            ("configmap", self.settings.arch_configmap), seen_version, seen_cm and seen_cm.value
        )
        writes = plan_record_writes(record, pools, current, self._reported)
        by_name = {p.name: p for p in seen_pools}
        changed = record != self.record
        self.record = record
        for pool, value in writes.pool_annotations.items():
            log.info("pool %s architectures: %s", pool, value or "(none)")
            await asyncio.to_thread(
                self.kube.set_pool_annotation, pool, ARCHITECTURES_ANNOTATION, value
            )
            self._own_writes.wrote(("pool", pool), by_name[pool].resource_version, value)
        if writes.configmap_data is not None:
            await asyncio.to_thread(
                self.kube.apply_configmap,
                self.settings.namespace,
                self.settings.arch_configmap,
                writes.configmap_data,
                RECORD_LABELS,
            )
            self._own_writes.wrote(
                ("configmap", self.settings.arch_configmap),
                seen_version,
                dict(writes.configmap_data),
            )
        for pool, nodes_by_name in writes.unsupported_reports.items():
            message = unsupported_message(nodes_by_name)
            log.warning("pool %s: %s", pool, message)
            involved = {
                "apiVersion": API_VERSION,
                "kind": MachineConfigPool.KIND,
                "metadata": {"name": pool, "uid": by_name[pool].uid if pool in by_name else None},
            }
            await asyncio.to_thread(
                self.kube.post_event,
                involved,
                EventType.WARNING,
                EventReason.UNSUPPORTED_ARCHITECTURE,
                message,
            )
            self._reported[pool] = dict(nodes_by_name)
        for pool in set(self._reported) - {p for p, s in record.pools.items() if s.unsupported}:
            del self._reported[pool]
        for pool, error in record.invalid_pools.items():
            log.warning("pool %s has a node selector that cannot be evaluated: %s", pool, error)
        if changed:
            self.on_change()
