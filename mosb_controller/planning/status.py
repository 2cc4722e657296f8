"""The status people read, as typed API objects: the MachineOSBuild's state, conditions
and status, the pool's ImageBuildDegraded condition, and the MachineOSConfig's status
that publishes the image. Pure: each compares with what is observed, so an unchanged
state writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from api import (
    ARCH_BUILDS_ANNOTATION,
    ARCH_DIGESTS_ANNOTATION,
    GROUP,
    MACHINE_OS_BUILDS,
    RENDERED_IMAGE_PUSH_SECRET_ANNOTATION,
    ArchBuildPhase,
    ArchBuildRecord,
    BuildProgress,
    Condition,
    ConditionStatus,
    ImageBuildDegradedReason,
    MachineConfigPool,
    MachineConfigPoolCondition,
    MachineConfigPoolConditionType,
    MachineOSBuilderReference,
    MachineOSBuildReason,
    MachineOSBuildStatus,
    MachineOSConfig,
    MachineOSConfigStatus,
    MachineOSImageBuilderType,
    ObjectReference,
    encode_arch_builds,
    encode_arch_digests,
)
from mosb_controller.planning.arch_state import describe
from mosb_controller.planning.inputs import BuildInputs
from mosb_controller.planning.objects import push_job_name
from mosb_controller.planning.observed import MosbView, Observed

MESSAGE_LIMIT = 32768  # metav1.Condition's maximum message length
# Upstream's reason and message of each condition when it is not the one that holds.
_DEFAULTS = {
    BuildProgress.PREPARED: (MachineOSBuildReason.PREPARED, "Build Prepared and Pending"),
    BuildProgress.BUILDING: (MachineOSBuildReason.BUILDING, "Image Build In Progress"),
    BuildProgress.FAILED: (MachineOSBuildReason.FAILED, "Build Failed"),
    BuildProgress.INTERRUPTED: (MachineOSBuildReason.INTERRUPTED, "Build Interrupted"),
    BuildProgress.SUCCEEDED: (MachineOSBuildReason.READY, "Build Ready"),
}
PushState = tuple[ArchBuildPhase, str]  # the push step's phase and its words


def build_state(
    records: Mapping[str, ArchBuildRecord], push: PushState | None, final: str | None
) -> tuple[BuildProgress, str]:
    """The MOSB's state (the condition type that holds) and the message naming every
    architecture and the push."""
    parts = [describe(r) for _, r in sorted(records.items())]
    if push is not None:
        parts.append(push[1])
    message = "; ".join(parts)
    phases = {r.phase for r in records.values()} | ({push[0]} if push else set())
    if ArchBuildPhase.FAILED in phases:
        return BuildProgress.FAILED, message
    if ArchBuildPhase.INTERRUPTED in phases:
        return BuildProgress.INTERRUPTED, message
    if final is not None:
        return BuildProgress.SUCCEEDED, message
    if phases & {ArchBuildPhase.BUILDING, ArchBuildPhase.SUCCEEDED} or push is not None:
        return BuildProgress.BUILDING, message
    return BuildProgress.PREPARED, message


def _conditions(
    previous: MachineOSBuildStatus, state: BuildProgress, message: str, now: dt.datetime
) -> tuple[Condition, ...]:
    """All five, as upstream writes them: exactly one True; a condition keeps its
    lastTransitionTime while its status holds."""
    conditions = []
    for type_ in BuildProgress:
        reason, default_message = _DEFAULTS[type_]
        status = ConditionStatus.TRUE if type_ == state else ConditionStatus.FALSE
        old = previous.get_condition(type_)
        since = old.last_transition_time if old is not None and old.status == status else now
        text = message[:MESSAGE_LIMIT] if status is ConditionStatus.TRUE else default_message
        conditions.append(
            Condition(
                type=type_, status=status, reason=reason, message=text, last_transition_time=since
            )
        )
    return tuple(conditions)


def _job_ref(obs: Observed, name: str) -> ObjectReference:
    return ObjectReference(
        group="batch", resource="jobs", namespace=obs.settings.namespace, name=name
    )


def mosb_status(
    obs: Observed,
    inputs: BuildInputs,
    mosb: MosbView,
    records: Mapping[str, ArchBuildRecord],
    state: BuildProgress,
    message: str,
    final: str | None,
) -> MachineOSBuildStatus:
    built = sorted(r.job for r in records.values() if r.job)
    push = push_job_name(mosb.name)
    related = list(built)
    if push in obs.jobs or push in {r.name for r in mosb.status.related_objects}:
        related.append(push)
    primary = built[0] if inputs.homogeneous and built else push
    starts = [r.start for r in records.values() if r.start and r.phase is not ArchBuildPhase.REUSED]
    start = mosb.status.build_start or (min(starts) if starts else None)
    end = None
    if state.terminal:
        start = start or obs.now
        # The API's times have whole seconds, and the schema wants the end after the start.
        end = max(obs.now, start.replace(microsecond=0) + dt.timedelta(seconds=1))
    fields = {
        "conditions": _conditions(mosb.status, state, message, obs.now),
        "builder": MachineOSBuilderReference(
            image_builder_type=MachineOSImageBuilderType.JOB, job=_job_ref(obs, primary)
        ),
        "related_objects": tuple(_job_ref(obs, n) for n in related) or None,
        "build_start": start,
        "build_end": end,
        "digested_image_push_spec": final,
    }
    return MachineOSBuildStatus(**{k: v for k, v in fields.items() if v is not None})


# ImageBuildDegraded per build state, as the MCO writes it (build reconciler and node
# controller): a prepared or running build is Building ("new build started"); only a
# failure degrades the pool; an interruption (a Job deleted) is reported, not a failure.
_DEGRADED = {
    BuildProgress.PREPARED: (ConditionStatus.FALSE, ImageBuildDegradedReason.BUILDING),
    BuildProgress.BUILDING: (ConditionStatus.FALSE, ImageBuildDegradedReason.BUILDING),
    BuildProgress.FAILED: (ConditionStatus.TRUE, ImageBuildDegradedReason.BUILD_FAILED),
    BuildProgress.INTERRUPTED: (ConditionStatus.FALSE, ImageBuildDegradedReason.BUILD_INTERRUPTED),
    BuildProgress.SUCCEEDED: (ConditionStatus.FALSE, ImageBuildDegradedReason.BUILD_SUCCESS),
}


def pool_condition(
    pool: MachineConfigPool, outcome: BuildProgress, mosb: str, message: str, now: dt.datetime
) -> MachineConfigPoolCondition | None:
    """ImageBuildDegraded as the MCO sets it; None when the pool already shows it."""
    status, reason = _DEGRADED.get(outcome, _DEGRADED[BuildProgress.BUILDING])
    text = {
        ImageBuildDegradedReason.BUILD_FAILED: f"MachineOSBuild {mosb} failed: {message}",
        ImageBuildDegradedReason.BUILD_INTERRUPTED: f"MachineOSBuild {mosb} was interrupted: "
        f"{message}",
        ImageBuildDegradedReason.BUILD_SUCCESS: f"MachineOSBuild {mosb} succeeded",
        ImageBuildDegradedReason.BUILDING: f"MachineOSBuild {mosb} is building",
        ImageBuildDegradedReason.BUILD_PENDING: f"MachineOSBuild {mosb} is pending",
    }[reason][:MESSAGE_LIMIT]
    kind = MachineConfigPoolConditionType.IMAGE_BUILD_DEGRADED
    current = pool.status.get_condition(kind)
    if (
        current
        and current.status == status
        and current.reason == reason
        and current.message == text
    ):
        return None
    return MachineConfigPoolCondition(
        type=kind, status=status, reason=reason, message=text, last_transition_time=now
    )


def pending_condition(
    pool: MachineConfigPool, mosb: str, now: dt.datetime
) -> MachineConfigPoolCondition | None:
    """A degraded pool whose next build is not created yet (a retry, a new spec): False
    with BuildPending, as the MCO's node controller clears it; None when not degraded."""
    kind = MachineConfigPoolConditionType.IMAGE_BUILD_DEGRADED
    current = pool.status.get_condition(kind)
    if current is None or not current.is_true:
        return None
    return MachineConfigPoolCondition(
        type=kind,
        status=ConditionStatus.FALSE,
        reason=ImageBuildDegradedReason.BUILD_PENDING,
        message=f"MachineOSConfig updated, waiting for MachineOSBuild {mosb}",
        last_transition_time=now,
    )


def published_status(
    mosc: MachineOSConfig, mosb: str, digested: str, group: str = GROUP
) -> MachineOSConfigStatus | None:
    """The MOSC status that points the node rollout at the finished image; None when it
    already does."""
    wanted = MachineOSConfigStatus(
        observed_generation=mosc.metadata.generation,
        current_image_pull_spec=digested,
        machine_os_build=ObjectReference(group=group, resource=MACHINE_OS_BUILDS, name=mosb),
    )
    current = mosc.status
    same = (
        current.observed_generation == wanted.observed_generation
        and current.current_image_pull_spec == wanted.current_image_pull_spec
        and current.machine_os_build == wanted.machine_os_build
    )
    return None if same else wanted


def record_annotations(
    push_secret: str, mosb: MosbView, records: Mapping[str, ArchBuildRecord]
) -> dict[str, str | None]:
    """The MOSB's machine-readable record (per architecture, digests) and upstream's
    push-secret annotation (its image pruner reads it), where they differ from what is seen."""
    wanted: dict[str, str | None] = {
        ARCH_BUILDS_ANNOTATION: encode_arch_builds(records),
        RENDERED_IMAGE_PUSH_SECRET_ANNOTATION: push_secret,
    }
    digests = {a: str(r.digest) for a, r in records.items() if r.phase.has_image and r.digest}
    if digests:
        wanted[ARCH_DIGESTS_ANNOTATION] = encode_arch_digests(digests)
    return {k: v for k, v in wanted.items() if mosb.annotations.get(k) != v}
