"""API economy: the requests the operator makes, counted in the API server's audit log.

One 4-architecture pool on the local cluster, builds played by the node harness and held
until released, so each window holds one cause:
  - a MOSC edit: from the write until its 4 build Jobs exist (and a second more);
  - each build's completion, one at a time; then the push's completion;
  - 1,000 idle node status updates (heartbeat-like: condition times only);
  - a quiet minute (steady state: any list request would show here).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from hack.bench import audit
from hack.bench.flow import job_names, mosbs, node_names, published, wait_for, wait_recorded
from hack.localcluster import ARCHES, LocalCluster, running
from mosb_controller.planning.objects import build_job_name

COMMON = "FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.bench.arch=$TARGETARCH"
SETTLE = 1.5


def run(idle_updates: int = 1000, quiet_seconds: float = 60) -> dict[str, Any]:
    with running(simulate_builds=0.2) as local:
        local.add_pool("worker", ARCHES)
        wait_recorded(local, "worker", ARCHES)
        local.apply_mosc("worker", [("NoArch", f"{COMMON}\nLABEL round=0")])
        first = wait_for(lambda: published(local, "worker"), 120, "the first image")
        time.sleep(SETTLE)
        assert local.harness is not None
        local.harness.hold = {".*"}
        edit = _window(local, lambda: _edit(local, first))
        mosb = _current_mosb(local, first)
        builds = []
        for arch in ARCHES:
            builds.append(_window(local, lambda a=arch: _release(local, mosb, a)))
        push = _window(local, lambda: _release_push(local, first))
        idle = _window(local, lambda: _idle_updates(local, idle_updates))
        quiet = _window(local, lambda: time.sleep(quiet_seconds), settle=0)
    per_build = {
        key: round(sum(b[key] for b in builds) / len(builds), 2)
        for key in ("requests", "writes", "lists", "gets", "conflicts")
    }
    return {
        "per_mosc_edit": edit,
        "per_build_completion": per_build,
        "push_completion_to_published": push,
        f"per_{idle_updates}_idle_node_updates": idle,
        f"quiet_{int(quiet_seconds)}s": quiet,
    }


def _window(local: LocalCluster, act: Any, settle: float = SETTLE) -> dict[str, Any]:
    start = time.time()
    act()
    time.sleep(settle)
    found = list(audit.between(audit.requests(local.plane.audit_log), start, time.time()))
    return {**audit.summary(found), "by_kind": audit.tally(found)}


def _edit(local: LocalCluster, previous: str) -> None:
    local.apply_mosc("worker", [("NoArch", f"{COMMON}\nLABEL round=1")])
    mosb = _current_mosb(local, previous)

    def jobs_exist() -> bool:
        names = job_names(local)
        return all(build_job_name(mosb, a) in names for a in ARCHES)

    wait_for(jobs_exist, 30, "the edit's build Jobs")


def _current_mosb(local: LocalCluster, previous: str) -> str:
    def other() -> str | None:
        names = [m["metadata"]["name"] for m in mosbs(local)]
        return next((n for n in names if n != previous), None)

    return wait_for(other, 30, "the edit's MOSB")


def _release(local: LocalCluster, mosb: str, arch: str) -> None:
    harness = local.harness
    assert harness is not None
    job = build_job_name(mosb, arch)
    harness.hold = {f"(?!{re.escape(job)}-)"}  # hold every pod but this Job's
    wait_for(lambda: any(n.startswith(job + "-") and p == "Succeeded"
                         for _, n, p in harness.timeline), 30, f"build {job}")  # fmt: skip


def _release_push(local: LocalCluster, previous: str) -> None:
    assert local.harness is not None
    local.harness.hold = set()
    wait_for(lambda: published(local, "worker", previous), 30, "the published image")


def _idle_updates(local: LocalCluster, count: int) -> None:
    """Status updates that change no fact the operator uses (times of conditions only)."""
    nodes = node_names(local)
    for i in range(count):
        stamp = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "lastHeartbeatTime": stamp, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ]}}  # fmt: skip
        local.core.patch_node_status(nodes[i % len(nodes)], body)
