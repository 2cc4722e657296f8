"""What the benchmarks share: waiting on the cluster, and a client-side Job watch."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import kubernetes

from api import ARCHITECTURES_ANNOTATION, decode_architectures
from api.names import VERSION
from hack.localcluster import NAMESPACE, LocalCluster

CURRENT_BUILD = "machineconfiguration.openshift.io/current-machine-os-build"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_recorded(
    local: LocalCluster, pool: str, arches: Sequence[str], timeout: float = 60
) -> None:
    """Until the operator's architecture record for `pool` lists exactly `arches`."""

    def recorded() -> bool:
        meta = local.get("machineconfigpools", pool)["metadata"]
        value = (meta.get("annotations") or {}).get(ARCHITECTURES_ANNOTATION)
        return set(decode_architectures(value)) == set(arches)

    wait_for(recorded, timeout, f"the architecture record of pool {pool}")


def mosbs(local: LocalCluster) -> list[dict[str, Any]]:
    group = local.group("machineosbuilds")
    listed = local.custom.list_cluster_custom_object(group, VERSION, "machineosbuilds")
    return cast(list[dict[str, Any]], cast(dict[str, Any], listed)["items"])


def succeeded(mosb: dict[str, Any]) -> bool:
    conditions = (mosb.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions)


def job_names(local: LocalCluster) -> set[str]:
    return {
        str(job.metadata.name)
        for job in local.batch.list_namespaced_job(NAMESPACE).items
        if job.metadata
    }


def node_names(local: LocalCluster) -> list[str]:
    return [str(node.metadata.name) for node in local.core.list_node().items if node.metadata]


def published(local: LocalCluster, mosc: str, previous: str | None = None) -> str | None:
    """The MOSC's published image if it names a Succeeded MOSB other than `previous`."""
    try:
        obj = local.get("machineosconfigs", mosc)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    current = (obj["metadata"].get("annotations") or {}).get(CURRENT_BUILD)
    image = (obj.get("status") or {}).get("currentImagePullSpec")
    if not current or current == previous or not image:
        return None
    return str(current) if succeeded(local.get("machineosbuilds", current)) else None


class JobWatch:
    """Client-side times at which each Job was first seen, and first seen Complete."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self.batch = kubernetes.client.BatchV1Api(client)
        self.seen: dict[str, float] = {}
        self.complete: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="job-watch")

    def __enter__(self) -> JobWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(
                    self.batch.list_namespaced_job, NAMESPACE, timeout_seconds=5
                ):
                    self._note(event["object"])
                    if self._stop.is_set():
                        watch.stop()
            except Exception:
                time.sleep(0.1)

    def _note(self, job: Any) -> None:
        now, name = time.time(), job.metadata.name
        self.seen.setdefault(name, now)
        for condition in (job.status and job.status.conditions) or []:
            if condition.type == "Complete" and condition.status == "True":
                self.complete.setdefault(name, now)


def spread(values: Sequence[float]) -> dict[str, float]:
    """median, p99 and max, in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }
