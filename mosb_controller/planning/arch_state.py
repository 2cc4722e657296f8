"""One architecture's build, and the push, as functions of what is observed. Pure.

A record (the MOSB's arch-builds annotation) is the durable memory of decisions that can't
be re-derived later: that an architecture reuses an earlier image, that a Job existed,
the digest a finished pod reported. Everything else is read from Jobs and Pods each time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from api import ArchBuildPhase, ArchBuildRecord, PodPhase
from mosb_controller.planning.observed import JobView, PodView

DIGEST_MESSAGE = re.compile(r"^(sha256:[a-f0-9]{64})\s*$")
MESSAGE_LIMIT = 1500
RESULT_GRACE = dt.timedelta(seconds=60)
CREATE_GRACE = dt.timedelta(seconds=60)
CREATING = "Creating"


@dataclass(frozen=True)
class StepOutcome:
    """What a build or push Job amounts to now."""

    phase: ArchBuildPhase
    digest: str | None = None
    reason: str | None = None
    message: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def excerpt(text: str | None, limit: int = MESSAGE_LIMIT) -> str:
    """A log or message in `limit` characters: its first line (the scripts' cause,
    "error: ...") and as many of its last lines as fit. The tail alone lost the cause of
    every failure whose output ran long, leaving buildah's last warning as the reason."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    first, _, rest = text.partition("\n")
    head = first if len(first) <= limit // 2 else first[: limit // 2] + "…"
    room = limit - len(head) - 2  # the newline and "…"
    tail = rest[-room:]
    if len(tail) < len(rest) and "\n" in tail:  # start on a whole line
        tail = tail[tail.find("\n") + 1 :]
    return f"{head}\n…{tail}"


def _latest(pods: Sequence[PodView]) -> PodView | None:
    return max(
        pods,
        key=lambda p: (p.created or dt.datetime.min.replace(tzinfo=dt.UTC), p.name),
        default=None,
    )


def _reported_digest(pod: PodView) -> str | None:
    """The digest a pod whose container ended well reported, if any."""
    match = DIGEST_MESSAGE.match(pod.message or "") if pod.exit_code == 0 else None
    return match.group(1) if match else None


def job_outcome(job: JobView, pods: Sequence[PodView], now: dt.datetime) -> StepOutcome:
    """The state of an existing Job: its conditions, and its pods' termination messages."""
    pods = [p for p in pods if not p.job_uid or not job.uid or p.job_uid == job.uid]
    start = job.start or now
    # A Job of one completion is decided once a pod succeeded: the result needn't wait for
    # the Job controller to say so (it batches pod updates: up to a second). Once the Job
    # is Complete, its pods' results count whatever phase they show.
    if job.complete or not (job.deleting or job.failed):
        for ended in pods:
            digest = (
                _reported_digest(ended)
                if job.complete or ended.phase == PodPhase.SUCCEEDED
                else None
            )
            if digest:
                end = job.end or ended.finished or now
                return StepOutcome(ArchBuildPhase.SUCCEEDED, digest, start=start, end=end)
    if job.complete:
        if job.end is not None and now - job.end > RESULT_GRACE:
            return StepOutcome(
                ArchBuildPhase.FAILED,
                reason="NoDigest",
                message=f"Job {job.name} completed but no pod reported an image digest",
                start=start,
                end=now,
            )
        return StepOutcome(
            ArchBuildPhase.BUILDING, message=f"collecting the result of Job {job.name}", start=start
        )
    if job.deleting:
        return StepOutcome(
            ArchBuildPhase.INTERRUPTED,
            reason="JobDeleted",
            message=f"Job {job.name} was deleted before it finished",
            start=start,
            end=now,
        )
    if job.failed:
        failed = [p for p in pods if p.exit_code not in (None, 0)] or list(pods)
        last = _latest(failed)
        cause = excerpt(last.message) if last and last.message else (job.failure_message or "")
        where = f" (pod {last.name} on node {last.node})" if last and last.node else ""
        return StepOutcome(
            ArchBuildPhase.FAILED,
            reason=job.failure_reason or "JobFailed",
            message=f"Job {job.name} failed{where}: {cause}".rstrip(": "),
            start=start,
            end=job.end or now,
        )
    return _running(job, pods, start)


def _running(job: JobView, pods: Sequence[PodView], start: dt.datetime) -> StepOutcome:
    """A Job that has not ended: pending, running, or retrying."""
    attempts = len(pods)
    pod = _latest(pods)
    retry = f", attempt {attempts}" if attempts > 1 else ""
    # Once a pod has run, the build is under way until the Job says how it ended: a pod
    # that finished before the Job controller noticed, or a retry waiting for its turn,
    # must not read as "not started" again.
    if pod is not None and pod.phase == PodPhase.RUNNING:
        message = f"running on node {pod.node} (Job {job.name}{retry})"
        return StepOutcome(ArchBuildPhase.BUILDING, message=message, start=start)
    if pod is not None and pod.phase == PodPhase.SUCCEEDED:
        message = f"finished on node {pod.node}, Job {job.name} completing"
        return StepOutcome(ArchBuildPhase.BUILDING, message=message, start=start)
    if pod is not None and (pod.phase == PodPhase.FAILED or attempts > 1):
        failures = sum(1 for p in pods if p.phase == PodPhase.FAILED)
        message = f"attempt {failures} failed, Job {job.name} retrying"
        return StepOutcome(ArchBuildPhase.BUILDING, message=message, start=start)
    waiting = f": {pod.waiting}" if pod is not None and pod.waiting else ""
    return StepOutcome(
        ArchBuildPhase.PENDING, message=f"Job {job.name} waiting to run{waiting}", start=start
    )


def advance_record(
    record: ArchBuildRecord,
    job: JobView | None,
    pods: Sequence[PodView],
    *,
    job_name: str,
    image_repository: str,
    buildable_nodes: int,
    now: dt.datetime,
    no_node_timeout: dt.timedelta,
    may_start: bool,
    job_deleted: bool = False,
) -> tuple[ArchBuildRecord, bool]:
    """The record after looking at the world, and whether its build Job should be created."""
    if record.phase.is_finished:
        return record, False
    if job is None:
        return _without_job(
            record,
            job_name=job_name,
            buildable_nodes=buildable_nodes,
            now=now,
            no_node_timeout=no_node_timeout,
            may_start=may_start,
            job_deleted=job_deleted,
        )
    outcome = job_outcome(job, pods, now)
    image = f"{image_repository}@{outcome.digest}" if outcome.digest else None
    start = (
        record.start
        if record.start and record.phase is not ArchBuildPhase.WAITING
        else outcome.start
    )
    end = max(outcome.end, start) if outcome.end and start else outcome.end
    updated = record.model_copy(
        update={
            "job": job.name,
            "phase": outcome.phase,
            "digest": outcome.digest,
            "image": image,
            "reason": outcome.reason,
            "message": outcome.message,
            "start": start,
            "end": end,
        }
    )
    return updated, False


def _without_job(
    record: ArchBuildRecord,
    *,
    job_name: str,
    buildable_nodes: int,
    now: dt.datetime,
    no_node_timeout: dt.timedelta,
    may_start: bool,
    job_deleted: bool,
) -> tuple[ArchBuildRecord, bool]:
    """No Job is seen: it is being created, was deleted, waits for a node, or starts now."""
    creating = record.reason == CREATING and record.phase is ArchBuildPhase.PENDING
    if creating and not job_deleted and record.start and now - record.start < CREATE_GRACE:
        return record, False  # created a moment ago; the watch has not shown it yet
    if record.job is not None and (job_deleted or not creating):
        return _update(
            record,
            ArchBuildPhase.INTERRUPTED,
            "JobDeleted",
            f"Job {record.job} was deleted before it finished",
            end=now,
        ), False
    if not may_start:
        return record, False
    if buildable_nodes <= 0:
        since = record.start if record.phase is ArchBuildPhase.WAITING and record.start else now
        if now - since >= no_node_timeout:
            return _update(
                record,
                ArchBuildPhase.FAILED,
                "NoBuildableNode",
                f"no Ready, schedulable {record.arch} node for "
                f"{int(no_node_timeout.total_seconds())}s; "
                f"add or uncordon a {record.arch} node, then retry the failed architectures",
                start=since,
                end=now,
            ), False
        return _update(
            record,
            ArchBuildPhase.WAITING,
            "NoBuildableNode",
            f"waiting for a Ready, schedulable {record.arch} node (none now)",
            start=since,
        ), False
    created = _update(
        record, ArchBuildPhase.PENDING, CREATING, f"creating Job {job_name}", start=now
    )
    # Named now: the Job is created before this record is written, so a record naming
    # a Job that is gone means the Job was deleted (see CREATE_GRACE for watch lag).
    return created.model_copy(update={"job": job_name}), True


def _update(
    record: ArchBuildRecord,
    phase: ArchBuildPhase,
    reason: str | None,
    message: str | None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> ArchBuildRecord:
    return record.model_copy(
        update={"phase": phase, "reason": reason, "message": message, "start": start, "end": end}
    )


def describe(record: ArchBuildRecord) -> str:
    """One architecture's state in a few words, for condition messages."""
    short = (record.digest or "")[:19]
    match record.phase:
        case ArchBuildPhase.SUCCEEDED:
            return f"{record.arch}: built {short}"
        case ArchBuildPhase.REUSED:
            return f"{record.arch}: reused {short} from {record.reused_from}"
        case ArchBuildPhase.BUILDING:
            return f"{record.arch}: building, {record.message}"
        case ArchBuildPhase.PENDING:
            return f"{record.arch}: pending, {record.message}"
        case ArchBuildPhase.WAITING:
            return f"{record.arch}: {record.message}"
        case _:
            return (
                f"{record.arch}: {record.phase.value.lower()} ({record.reason}): {record.message}"
            )
