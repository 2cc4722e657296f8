"""Prometheus metrics (prometheus_client): builds per architecture, durations, errors.

Counts follow the plan's per-architecture transitions (the events it emits when a
record's phase changes), each counted once per (MachineOSBuild uid, architecture,
transition): a pass repeated before the watch shows our own write counts nothing twice.
Durations come from the Jobs' own startTime and completionTime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cachetools import TTLCache
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mosb_controller.arch import ClusterRecord
from mosb_controller.runtime.buildmetrics import BuildStates

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: they only double what a scrape shows

BUILD_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200)
PUSH_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
# Event reason of a per-architecture transition → the counter it feeds.
STARTED, SUCCEEDED, FAILED, INTERRUPTED, REUSED = (
    "ArchBuildStarted",
    "ArchBuildSucceeded",
    "ArchBuildFailed",
    "ArchBuildInterrupted",
    "ArchBuildReused",
)
BUILD_SUCCEEDED = "BuildSucceeded"  # the whole MOSB: for a list, the push is done


class PoolArchitectures(Collector):
    """Architectures per pool, read from the current record at scrape time (so a pool
    that went away leaves no stale series behind)."""

    def __init__(self, record: Callable[[], ClusterRecord | None]) -> None:
        self.record = record

    def collect(self) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "mosb_pool_architectures", "Architectures of a pool's nodes.", labels=["pool"]
        )
        nodes = GaugeMetricFamily(
            "mosb_pool_nodes", "Nodes of a pool per architecture.", labels=["pool", "arch"]
        )
        # Builds run on any node of the architecture, not only the pool's: cluster-wide.
        buildable = GaugeMetricFamily(
            "mosb_pool_buildable_nodes",
            "Ready, schedulable nodes in the cluster a build of a pool's architecture can run on.",
            labels=["pool", "arch"],
        )
        record = self.record()
        for pool, summary in sorted(record.pools.items() if record else ()):
            count.add_metric([pool], len(summary.architectures))
            for arch, n in sorted(summary.nodes.items()):
                nodes.add_metric([pool, arch], n)
                buildable.add_metric([pool, arch], summary.buildable.get(arch, 0))
        yield count
        yield nodes
        yield buildable


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)  # RSS, CPU, open fds of the operator
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.started = Counter(
            "mosb_arch_builds_started", "Build Jobs started.", ["arch"], registry=r
        )
        self.succeeded = Counter(
            "mosb_arch_builds_succeeded", "Builds that pushed their image.", ["arch"], registry=r
        )
        self.failed = Counter(
            "mosb_arch_builds_failed",
            "Builds that failed (reason Failed) or were interrupted (reason Interrupted).",
            ["arch", "reason"],
            registry=r,
        )
        self.reused = Counter(
            "mosb_arch_builds_reused",
            "Architectures whose earlier image was reused instead of built.",
            ["arch"],
            registry=r,
        )
        self.build_seconds = Histogram(
            "mosb_arch_build_duration_seconds",
            "Successful build Jobs, startTime to completionTime.",
            ["arch"],
            buckets=BUILD_BUCKETS,
            registry=r,
        )
        self.push_seconds = Histogram(
            "mosb_push_duration_seconds",
            "Successful push Jobs (manifest lists), startTime to completionTime.",
            buckets=PUSH_BUCKETS,
            registry=r,
        )
        self.reconcile_errors = Counter(
            "mosb_reconcile_errors",
            "Passes that failed and were retried, by loop (builds, architectures) and kind "
            "(api: the API server refused; unexpected: a bug or an unforeseen state).",
            ["loop", "kind"],
            registry=r,
        )
        self._register_pruning(r)
        self.builds = BuildStates()  # the current build of each MachineOSConfig, per pass
        r.register(self.builds)
        self._counted: TTLCache[tuple[str, str, str], bool] = TTLCache(maxsize=50_000, ttl=86_400)
        self._server: Any = None

    def _register_pruning(self, r: CollectorRegistry) -> None:
        """The pruner's counters (runtime/pruning.py)."""
        self.prune_refused = Counter(
            "mosb_prune_refused",
            "Image deletes the registry refused while pruning, by MachineOSConfig and reason.",
            ["mosc", "reason"],
            registry=r,
        )
        self.pruned_images = Counter(
            "mosb_pruned_images",
            "Image manifests (lists and per-architecture images) of retired builds deleted.",
            ["mosc"],
            registry=r,
        )
        self.pruned_bytes = Counter(
            "mosb_pruned_bytes",
            "Bytes the deleted images' manifests declare (config and layers); the registry "
            "frees a blob at its garbage collection, once no other image shares it.",
            ["mosc"],
            registry=r,
        )

    def watch_pools(self, record: Callable[[], ClusterRecord | None]) -> None:
        self.registry.register(PoolArchitectures(record))

    def transition(
        self, mosb_uid: str, reason: str, arch: str | None, seconds: float | None = None
    ) -> bool:
        """Count one transition of a MachineOSBuild (an architecture's, or the whole
        build's with arch None); False if it was counted already."""
        key = (mosb_uid, arch or "", reason)
        if key in self._counted:
            return False
        self._counted[key] = True
        if arch is None:
            if reason == BUILD_SUCCEEDED and seconds is not None:
                self.push_seconds.observe(seconds)
            return True
        if reason == STARTED:
            self.started.labels(arch).inc()
        elif reason == SUCCEEDED:
            self.succeeded.labels(arch).inc()
            if seconds is not None:
                self.build_seconds.labels(arch).observe(seconds)
        elif reason in (FAILED, INTERRUPTED):
            self.failed.labels(arch, reason.removeprefix("ArchBuild")).inc()
        elif reason == REUSED:
            self.reused.labels(arch).inc()
        return True

    def serve(self, address: str, port: int) -> None:
        """Serve /metrics in a thread (prometheus_client's own HTTP server)."""
        if port:
            self._server, _ = start_http_server(port, address, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
