"""Driving one build through the planner, as the watch would show it: Jobs and Pods in
each state, a MOSB as the API stores it. For the planner's and the metrics' unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import api.names as names
from api import ARCH_BUILDS_ANNOTATION, decode_arch_builds
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.observed import (
    JobView,
    MosbView,
    Observed,
    PodView,
    job_view,
    mosb_view,
    pod_view,
)
from mosb_controller.planning.plan import Plan, plan_mosc
from tests.support.factories import DIGEST, absent_everywhere

LIST_DIGEST = "sha256:" + "e" * 64


def finished_status(state: str) -> dict[str, Any]:
    """A MachineOSBuild status whose `state` condition is True, as the API stores it."""
    condition = {
        "type": state,
        "status": "True",
        "reason": state,
        "message": "",
        "lastTransitionTime": "2026-11-22T11:00:00Z",
    }
    return {"conditions": [condition]}


def created(obs: Observed) -> tuple[Plan, MosbView]:
    """Plan until the MOSB is created (answering registry checks 'absent' unless given)."""
    plan = plan_mosc(obs)
    if plan.image_checks:
        obs = replace(obs, images={**absent_everywhere(plan), **obs.images})
        plan = plan_mosc(obs)
    assert plan.create_mosb is not None, plan
    body = plan.create_mosb.to_k8s()
    body["metadata"]["uid"] = "uid-mosb"
    body["metadata"]["creationTimestamp"] = "2026-11-22T11:00:00Z"
    return plan, mosb_view(body)


def job(
    name: str,
    *,
    complete: bool = False,
    failed: bool = False,
    deleting: bool = False,
    active: int = 0,
    arch_: str | None = None,
    role: str = "build",
    owner: str = "uid-mosb",
    labelled: str | None = None,  # the MOSB uid on BUILD_UID_LABEL (None: made before it)
) -> JobView:
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append(
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}
        )
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "ownerReferences": [{"uid": owner, "controller": True}],
        "labels": {
            names.ROLE_LABEL: role,
            **({names.BUILD_UID_LABEL: labelled} if labelled is not None else {}),
        },
        "annotations": {
            names.MOSB_ANNOTATION: "m",
            **({names.ARCH_ANNOTATION: arch_} if arch_ else {}),
        },
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-22T11:59:00Z"
    return job_view(
        {
            "metadata": meta,
            "status": {
                "conditions": conditions,
                "active": active,
                "startTime": "2026-11-22T11:01:00Z",
                **({"completionTime": "2026-11-22T11:30:00Z"} if complete else {}),
            },
        }
    )


def pod(
    job_name: str,
    *,
    phase: str,
    exit_code: int | None = None,
    message: str | None = None,
    node: str = "node-1",
    job_uid: str | None = None,
) -> PodView:
    status: dict[str, Any] = {"phase": phase}
    if exit_code is not None:
        status["containerStatuses"] = [
            {"state": {"terminated": {"exitCode": exit_code, "message": message}}}
        ]
    return pod_view(
        {
            "metadata": {
                "name": f"{job_name}-abcde",
                "labels": {
                    "batch.kubernetes.io/job-name": job_name,
                    "batch.kubernetes.io/controller-uid": job_uid or f"uid-{job_name}",
                },
                "creationTimestamp": "2026-11-22T11:01:00Z",
            },
            "spec": {"nodeName": node},
            "status": status,
        }
    )


def progress(
    obs: Observed, mosb: MosbView, jobs: Mapping[str, JobView], pods: Mapping[str, list[PodView]]
) -> Plan:
    return plan_mosc(
        replace(
            obs,
            mosbs={mosb.name: mosb},
            jobs=dict(jobs),
            pods=dict(pods),
            configmaps={jobspec.inputs_configmap_name(mosb.name): mosb.uid},
        )
    )


def started(obs: Observed) -> tuple[MosbView, dict[str, JobView]]:
    _, mosb = created(obs)
    plan = progress(obs, mosb, {}, {})
    records = decode_arch_builds(plan.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    jobs = {n: job(n, active=1) for n in (j["metadata"]["name"] for j in plan.create_jobs)}
    return replace(mosb, records=records), jobs


def finish_builds(
    obs: Observed, mosb: MosbView, jobs: dict[str, JobView]
) -> tuple[MosbView, dict[str, list[PodView]]]:
    pods = {}
    for a in mosb.records:
        name = jobspec.build_job_name(mosb.name, a)
        jobs[name] = job(name, complete=True)
        pods[name] = [pod(name, phase="Succeeded", exit_code=0, message=DIGEST[a])]
    plan = progress(obs, mosb, jobs, pods)
    records = decode_arch_builds(plan.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    return replace(mosb, records=records), pods


def succeeded(obs: Observed) -> tuple[Plan, MosbView]:
    """Drive a build to success (every architecture, then the push); the last plan and
    the MOSB as the API then stores it."""
    mosb, jobs = started(obs)
    mosb, pods = finish_builds(obs, mosb, jobs)
    push = jobspec.push_job_name(mosb.name)
    jobs[push] = job(push, complete=True, role="push")
    pods[push] = [pod(push, phase="Succeeded", exit_code=0, message=LIST_DIGEST)]
    done = progress(obs, mosb, jobs, pods)
    return done, replace(mosb, status=done.mosb_status[mosb.name])


def pushed(obs: Observed) -> tuple[MosbView, Plan]:
    """A heterogeneous build driven to the pass after its push Job made LIST_DIGEST."""
    mosb, jobs = started(obs)
    mosb, pods = finish_builds(obs, mosb, jobs)
    push = jobspec.push_job_name(mosb.name)
    jobs[push] = job(push, complete=True, role="push")
    pods[push] = [pod(push, phase="Succeeded", exit_code=0, message=LIST_DIGEST)]
    return mosb, progress(obs, mosb, jobs, pods)
