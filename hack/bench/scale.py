"""Scale: 2,000 kwok nodes over 4 architectures in 50 pools, 50 MOSCs written at once.

On the local cluster (real API server, scheduler, Job controller, kwok), with builds of a
fixed duration played by the node harness. Measured for the 50 MOSCs created at once and
then all edited at once (one NoArch change each, so all four architectures build again):
  - from each MOSC write to its MOSB's last build Job created (audit log), per MOSC;
  - from each MOSB's last build pod done to its push Job created;
  - the operator's peak RSS and CPU seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hack import controlplane
from hack.bench import audit
from hack.bench.flow import published, spread, wait_for, wait_recorded
from hack.localcluster import ARCHES, LocalCluster, running
from mosb_controller.planning.objects import build_job_name, push_job_name

COMMON = "FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.bench.arch=$TARGETARCH"


def run(
    pools: int = 50, nodes: int = 2000, build_seconds: float = 5.0, timeout: float = 600
) -> dict[str, Any]:
    per_arch = nodes // (pools * len(ARCHES))
    names = [f"pool{i:02d}" for i in range(pools)]
    with running(simulate_builds=build_seconds, harness_workers=4 * pools) as local:
        assert local.operator is not None
        made = _pools(local, names, per_arch)
        cpu_before = local.operator.cpu_seconds()
        created = _round(local, names, "v1", timeout)
        edited = _round(local, names, "v2", timeout)
        return {
            "nodes": made,
            "pools": pools,
            "build_seconds": build_seconds,
            "create": created,
            "edit": edited,
            "operator_peak_rss_mb": round(local.operator.peak_rss_bytes() / 2**20, 1),
            "operator_cpu_s": round(local.operator.cpu_seconds() - cpu_before, 1),
        }


def _pools(local: LocalCluster, names: Sequence[str], per_arch: int) -> int:
    nodes: list[str] = []
    for name in names:
        nodes += controlplane.add_nodes(local.client, ARCHES, per_arch, {"pool": name}, name)
    controlplane.wait_nodes_ready(local.client, nodes, timeout=600)
    for name in names:
        local.add_pool(name, ARCHES, per_arch=0)
    for name in names:
        wait_recorded(local, name, ARCHES)
    return len(nodes)


def _wait_published(local: LocalCluster, mosc: str, previous: str | None, timeout: float) -> str:
    return wait_for(lambda: published(local, mosc, previous), timeout, f"MOSC {mosc}")


def _round(local: LocalCluster, names: Sequence[str], tag: str, timeout: float) -> dict[str, Any]:
    """Write every MOSC at once; wait until each has published a new image."""
    previous = {name: published(local, name) for name in names}
    entries = [("NoArch", f"{COMMON}\nLABEL io.mosb.bench.round={tag}")]
    written: dict[str, float] = {}
    start = time.time()

    def write(name: str) -> None:
        local.apply_mosc(name, entries)
        written[name] = time.time()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, names))
    mosbs = {name: _wait_published(local, name, previous[name], timeout) for name in names}
    time.sleep(0.5)  # the audit log's last lines
    requests = list(audit.between(audit.requests(local.plane.audit_log), start, time.time()))
    created = {r.name: r.time for r in audit.creates(requests, "jobs")}
    assert local.harness is not None
    done = {name: t for t, name, phase in local.harness.timeline if phase == "Succeeded"}
    made = {r.name: r.time for r in audit.creates(requests, "machineosbuilds")}
    to_jobs, to_mosb, to_push = [], [], []
    for mosc, mosb in mosbs.items():
        builds = [build_job_name(mosb, arch) for arch in ARCHES]
        to_jobs.append(max(created[job] for job in builds) - written[mosc])
        to_mosb.append(made[mosb] - written[mosc])
        last_pod = max(
            t for pod, t in done.items() if any(pod.startswith(job + "-") for job in builds)
        )
        to_push.append(created[push_job_name(mosb)] - last_pod)
    return {
        "mosc_write_to_all_jobs": spread(to_jobs),
        "of_which_mosc_write_to_mosb": spread(to_mosb),
        "api_latency_of_operator_requests": spread([r.latency for r in requests]),
        "last_build_to_push_job": spread(to_push),
        "requests": audit.summary(requests),
    }
