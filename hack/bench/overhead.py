"""Controller overhead versus time inside the builds, for the main job (scenario 1).

A new MOSC on a 4-architecture pool, on the local cluster (real scheduler, Job controller,
kwok nodes, node harness). Builds are real (buildah/skopeo against the registry) or, with
`build_seconds`, of a fixed duration. The timeline joins three clocks on one machine: the
benchmark's own (the MOSC write), the API server's audit log of the operator's requests
(Job creates, the MOSC status write) and the node harness (a pod's outcome reported):

  controller: MOSC write → last build Job created        (plan, image checks, creates)
              last build pod done → push Job created      (Job controller + operator)
              push pod done → MOSC status written         (Job controller + operator)
  builds:     last build Job created → last build pod done (scheduling + the builds)
  push:       push Job created → push pod done
"""

from __future__ import annotations

import time
from typing import Any

from hack.bench import audit
from hack.bench.flow import JobWatch, published, wait_for, wait_recorded
from hack.localcluster import ARCHES, running
from mosb_controller.planning.objects import build_job_name, push_job_name

# A RUN step, as admins write them: each architecture runs it (here through qemu-user,
# standing in for the native CPU of its node; see hack/binfmt.sh).
COMMON = (
    "FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.bench.arch=$TARGETARCH\n"
    "RUN uname -m > /etc/mosb-bench-machine"
)


def run(build_seconds: float | None = None, timeout: float = 300) -> dict[str, Any]:
    label = "real builds" if build_seconds is None else f"builds of {build_seconds:g} s"
    with running(simulate_builds=build_seconds) as local:
        local.add_pool("worker", ARCHES, per_arch=1)
        wait_recorded(local, "worker", ARCHES)
        assert local.harness is not None
        with JobWatch(local.client) as jobs:
            written = time.time()
            local.apply_mosc("worker", [("NoArch", COMMON), ("ARM64", f"{COMMON}\nLABEL a=1")])
            mosb = wait_for(lambda: published(local, "worker"), timeout, "the published image")
            time.sleep(0.5)  # the audit log line of the last write
            requests = audit.requests(local.plane.audit_log)
            outcome = _split(mosb, written, requests, local.harness.timeline, jobs.complete)
    return {"flow": label, "mosb": mosb, **outcome}


def _split(
    mosb: str,
    written: float,
    requests: list[audit.Request],
    pods: list[tuple[float, str, str]],
    job_complete: dict[str, float],
) -> dict[str, Any]:
    build_jobs = {build_job_name(mosb, arch) for arch in ARCHES}
    push_job = push_job_name(mosb)
    created = {r.name: r.time for r in audit.creates(requests, "jobs")}
    jobs_created = max(created[name] for name in build_jobs)
    done = {name: t for t, name, phase in pods if phase == "Succeeded"}

    def pod_done(job: str) -> float:
        return min(t for name, t in done.items() if name.startswith(job + "-"))

    builds_done = max(pod_done(job) for job in build_jobs)
    push_created = created[push_job]
    push_done = pod_done(push_job)
    status_written = min(
        r.time
        for r in requests
        if r.resource == "machineosconfigs" and r.subresource == "status" and r.time > push_done
    )
    stages = {
        "mosc_write_to_build_jobs": jobs_created - written,
        "builds_done_to_push_job": push_created - builds_done,
        "push_done_to_mosc_status": status_written - push_done,
        "inside_builds": builds_done - jobs_created,
        "inside_push": push_done - push_created,
    }
    # How long the Job controller took to call the Jobs Complete after their pods ended
    # (None if the operator cleaned a Job up before this watch saw it Complete).
    last_complete = max((job_complete.get(job, 0.0) for job in build_jobs), default=0.0)
    job_controller = {
        "builds": round(last_complete - builds_done, 3) if last_complete else None,
        "push": round(job_complete[push_job] - push_done, 3) if push_job in job_complete else None,
    }
    controller = sum(v for k, v in stages.items() if not k.startswith("inside"))
    total = status_written - written
    window = audit.between(requests, written, status_written)
    return {
        "seconds": {k: round(v, 3) for k, v in stages.items()},
        "controller_overhead_s": round(controller, 3),
        "job_controller_complete_after_pod_s": job_controller,
        "total_s": round(total, 3),
        "controller_share": round(controller / total, 3),
        "requests": audit.summary(window),
    }
