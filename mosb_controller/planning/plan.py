"""The plan for one MachineOSConfig: a pure function of what is observed.

`plan_mosc(observed)` answers: which MachineOSBuild should exist, which builds it reuses
and which it runs, which Jobs to create, the status people read, and what to tell the
MachineOSConfig and the pool. No clock (`observed.now`), no I/O: it asks for the registry
answers it needs (`Plan.image_checks`). The build loop and the dry run both call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from api import (
    ARCH_BUILDS_ANNOTATION,
    CURRENT_MACHINE_OS_BUILD_ANNOTATION,
    FORCED_REBUILD_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    REBUILD_ANNOTATION,
    RENDERED_IMAGE_PUSH_SECRET_ANNOTATION,
    RENDERED_MACHINE_CONFIG_LABEL,
    RETRY_FAILED_ANNOTATION,
    TARGET_MACHINE_CONFIG_POOL_LABEL,
    VERSION,
    ArchBuildPhase,
    ArchBuildRecord,
    BuildProgress,
    EventReason,
    MachineConfigPoolCondition,
    MachineOSBuild,
    MachineOSBuildStatus,
    MachineOSConfig,
    MachineOSConfigStatus,
    Mode,
    build_group,
    describe_validation_error,
    encode_arch_builds,
)
from mosb_controller.planning import (
    buildsecrets,
    cleanup,
    events,
    publish,
    retention,
    reuse,
    status,
)
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.arch_state import advance_record, job_outcome
from mosb_controller.planning.buildsecrets import SecretCopy
from mosb_controller.planning.events import EventSpec
from mosb_controller.planning.hold import PoolHold, hold
from mosb_controller.planning.inputs import (
    BuildInputs,
    Refusal,
)
from mosb_controller.planning.jobinputs import job_inputs
from mosb_controller.planning.observed import MosbView, Observed
from mosb_controller.planning.reuse import ArchDecision
from mosb_controller.planning.status import PushState

_RETRIED = (BuildProgress.FAILED, BuildProgress.INTERRUPTED)  # what retry-failed recreates


class MosbAction(StrEnum):
    """What the plan does about the MachineOSBuild its inputs name."""

    CREATE = "create"  # none exists: create it (once leftovers and other builds are gone)
    CREATE_REBUILD = "create for a rebuild"  # none exists; a rebuild was requested
    RECREATE_DELETING = "being deleted"  # it is going; created again once gone
    RECREATE_REBUILD = "recreate for a rebuild"  # delete it, then build everything again
    RECREATE_RETRY = "recreate for a retry"  # delete it, then build what failed
    KEEP = "keep"  # it exists: advance it


@dataclass
class Plan:
    mosb_name: str | None = None
    mosb_action: MosbAction | None = None  # None when refused
    refusal: Refusal | None = None
    decisions: list[ArchDecision] = field(default_factory=list)
    image_checks: list[str] = field(default_factory=list)
    delete_mosbs: list[str] = field(default_factory=list)
    create_mosb: MachineOSBuild | None = None
    create_configmaps: list[dict[str, Any]] = field(default_factory=list)
    create_jobs: list[dict[str, Any]] = field(default_factory=list)
    delete_jobs: list[str] = field(default_factory=list)
    delete_configmaps: list[str] = field(default_factory=list)
    copy_secrets: list[SecretCopy] = field(default_factory=list)  # made before the Jobs
    delete_secrets: list[str] = field(default_factory=list)
    # MOSB uids whose Jobs (or Secret copies) all go, in one request each (by their label).
    delete_jobs_of: list[str] = field(default_factory=list)
    delete_secrets_of: list[str] = field(default_factory=list)

    def take(self, deletes: cleanup.Deletes) -> None:
        self.delete_jobs += deletes.jobs
        self.delete_configmaps += deletes.configmaps
        self.delete_secrets += deletes.secrets
        self.delete_jobs_of += deletes.jobs_of
        self.delete_secrets_of += deletes.secrets_of

    mosb_annotations: dict[str, dict[str, str | None]] = field(default_factory=dict)
    mosb_status: dict[str, MachineOSBuildStatus] = field(default_factory=dict)
    mosc_annotations: dict[str, str | None] = field(default_factory=dict)
    mosc_status: MachineOSConfigStatus | None = None
    pool_condition: MachineConfigPoolCondition | None = None  # builder mode only
    pool_hold: PoolHold | None = None  # alongside-mco: pause or release the pool
    publish_config: dict[str, Any] | None = None  # alongside-mco: our MachineConfig, to write
    events: list[EventSpec] = field(default_factory=list)


def plan_mosc(obs: Observed) -> Plan:
    plan = Plan()
    mode = obs.settings.mode
    inputs = job_inputs(obs)
    if isinstance(inputs, Refusal):
        plan.refusal = inputs
        return plan
    desired = inputs.mosb_name()
    plan.mosb_name = desired
    annotations = obs.mosc.metadata.annotations
    rebuild = REBUILD_ANNOTATION in annotations
    retry = RETRY_FAILED_ANNOTATION in annotations
    current = obs.mosbs.get(desired)
    plan.mosb_action = _action(current, rebuild=rebuild, retry=retry)
    # One active build per MOSC (others unfinished go, as upstream); old finished ones retire.
    others = [m for m in obs.mosbs.values() if m.name != desired and m.terminal is None]
    plan.delete_mosbs += [m.name for m in others if not m.deleting] + retention.retire(obs, desired)

    match plan.mosb_action:
        case MosbAction.CREATE | MosbAction.CREATE_REBUILD:
            if mode is Mode.BUILDER and obs.pool is not None:
                plan.pool_condition = status.pending_condition(obs.pool, desired, obs.now)
            deletes, left = cleanup.leftovers(obs, desired, inputs.architectures)
            plan.take(deletes)
            if not others and not left:
                _create(plan, obs, inputs, desired, fresh=rebuild)
        case MosbAction.RECREATE_REBUILD | MosbAction.RECREATE_RETRY:
            # Both recreate the MOSB under the same name: a rebuild builds every
            # architecture again; a retry reuses the architectures that already pushed.
            plan.delete_mosbs.append(desired)
        case MosbAction.KEEP:
            assert current is not None
            _progress(plan, obs, inputs, current)
            _serve_requests(plan, current, rebuild=rebuild, retry=retry)
    if mode is Mode.ALONGSIDE_MCO and obs.pool is not None:
        plan.pool_hold, held = hold(obs, inputs.base_image, desired, plan.mosb_status)
        plan.events += held
    exists = current is not None or plan.create_mosb is not None
    if exists and annotations.get(CURRENT_MACHINE_OS_BUILD_ANNOTATION) != desired:
        plan.mosc_annotations[CURRENT_MACHINE_OS_BUILD_ANNOTATION] = desired
    return plan


def _action(current: MosbView | None, *, rebuild: bool, retry: bool) -> MosbAction:
    if current is None:
        return MosbAction.CREATE_REBUILD if rebuild else MosbAction.CREATE
    if current.deleting:
        return MosbAction.RECREATE_DELETING
    if rebuild and not current.fresh:
        return MosbAction.RECREATE_REBUILD
    if retry and current.terminal in _RETRIED:
        return MosbAction.RECREATE_RETRY
    return MosbAction.KEEP


# -- a new MachineOSBuild --------------------------------------------------------------


def _create(plan: Plan, obs: Observed, inputs: BuildInputs, desired: str, fresh: bool) -> None:
    records = {}
    for arch in inputs.architectures:
        first = reuse.first_record(obs, inputs, desired, arch, fresh)
        if first.question is not None:
            plan.image_checks.append(first.question)
        if first.decision is not None:
            plan.decisions.append(first.decision)
        if first.record is not None:
            records[arch] = first.record
    if plan.image_checks:
        return  # decide once the registry has answered
    try:
        plan.create_mosb = _new_mosb(obs, inputs, desired, records, fresh)
    except ValidationError as exc:  # what the API server would refuse: say so instead
        problem = describe_validation_error(exc).replace("\n", "; ")
        plan.refusal = Refusal(
            EventReason.INVALID_BUILD_INPUTS,
            f"MachineOSBuild {desired} would be invalid: {problem}",
        )
        return
    plan.events.append(events.build_created(inputs.mosc, desired, records))


def _new_mosb(
    obs: Observed,
    inputs: BuildInputs,
    desired: str,
    records: Mapping[str, ArchBuildRecord],
    fresh: bool,
) -> MachineOSBuild:
    annotations = {
        ARCH_BUILDS_ANNOTATION: encode_arch_builds(records),
        # upstream's pruner reads it: the MOSC's own secret (a build's copy is short-lived)
        RENDERED_IMAGE_PUSH_SECRET_ANNOTATION: obs.mosc.spec.rendered_image_push_secret.name,
    }
    if fresh:
        annotations[FORCED_REBUILD_ANNOTATION] = "true"
    return MachineOSBuild.from_k8s(
        {
            "metadata": {
                "name": desired,
                "labels": {
                    TARGET_MACHINE_CONFIG_POOL_LABEL: inputs.pool,
                    RENDERED_MACHINE_CONFIG_LABEL: inputs.rendered_config,
                    MACHINE_OS_CONFIG_LABEL: inputs.mosc,
                },
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": f"{build_group(obs.settings.mode)}/{VERSION}",
                        "kind": MachineOSConfig.KIND,
                        "name": inputs.mosc,
                        "uid": obs.mosc_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "machineConfig": {"name": inputs.rendered_config},
                "machineOSConfig": {"name": inputs.mosc},
                "renderedImagePushSpec": f"{inputs.repository}:{desired}",
            },
        }
    )


# -- an existing MachineOSBuild --------------------------------------------------------


def _progress(plan: Plan, obs: Observed, inputs: BuildInputs, mosb: MosbView) -> None:
    if mosb.record_error is not None:  # someone edited our annotation: say so, once
        plan.refusal = Refusal(
            EventReason.RECORD_UNREADABLE, f"MachineOSBuild {mosb.name}: {mosb.record_error}"
        )
        return
    # Jobs of an earlier MOSB with the same name (deleted for a rebuild or retry) may
    # outlive it until garbage collection: they are not this build's. Remove them first.
    names = {jobspec.build_job_name(mosb.name, a) for a in mosb.records}
    names.add(jobspec.push_job_name(mosb.name))
    stale = [j for n, j in obs.jobs.items() if n in names and j.owner_uid != mosb.uid]
    if stale:
        plan.delete_jobs += [j.name for j in stale if not j.deleting]
        return
    records = _advance_builds(plan, obs, inputs, mosb)
    terminal = mosb.terminal
    final_digest, push_state = _push(plan, obs, inputs, mosb, records)
    state, message = status.build_state(records, push_state, final_digest)
    if changed := status.record_annotations(
        obs.mosc.spec.rendered_image_push_secret.name, mosb, records
    ):
        plan.mosb_annotations.setdefault(mosb.name, {}).update(changed)
    if terminal is None:
        new = status.mosb_status(obs, inputs, mosb, records, state, message, final_digest)
        written = new.to_k8s()
        seen = mosb.status_json
        if written != {k: seen.get(k) for k in written}:
            plan.mosb_status[mosb.name] = new
        if state != mosb.state:
            plan.events.append(events.state_event(mosb.name, state, message))
    outcome = terminal or state
    builder = obs.settings.mode is Mode.BUILDER  # alongside-mco writes no pool condition
    if obs.pool is not None and builder:
        plan.pool_condition = status.pool_condition(obs.pool, outcome, mosb.name, message, obs.now)
    if outcome is BuildProgress.SUCCEEDED:
        digested = final_digest or mosb.status.digested_image_push_spec
        if digested:
            group = build_group(obs.settings.mode)
            plan.mosc_status = status.published_status(obs.mosc, mosb.name, digested, group)
        if digested and obs.pool is not None and not builder:
            plan.publish_config = publish.published_config(
                obs.mosc,
                obs.mosc_uid,
                obs.pool,
                mosb.name,
                digested,
                inputs.base_image,
                obs.published,
            )
            plan.events += publish.published_events(obs.mosc.name, plan.publish_config)
        plan.take(cleanup.after_success(obs, mosb, records))


def _advance_builds(
    plan: Plan, obs: Observed, inputs: BuildInputs, mosb: MosbView
) -> dict[str, ArchBuildRecord]:
    """Each architecture's record after looking at its Job; Jobs to create go in `plan`."""
    records: dict[str, ArchBuildRecord] = {}
    to_build = []
    for arch, record in sorted(mosb.records.items()):
        name = jobspec.build_job_name(mosb.name, arch)
        new, start_job = advance_record(
            record,
            obs.jobs.get(name),
            obs.pods.get(name, ()),
            job_name=name,
            image_repository=inputs.repository,
            buildable_nodes=obs.buildable.get(arch, 0),
            now=obs.now,
            no_node_timeout=dt.timedelta(seconds=obs.settings.no_node_timeout_seconds),
            may_start=mosb.terminal is None,
            job_deleted=(name, mosb.uid) in obs.deleted_jobs,
        )
        records[arch] = new
        if start_job:
            to_build.append(arch)
        if new.phase != record.phase:
            plan.events.append(events.arch_event(mosb.name, new))
        plan.decisions.append(reuse.decision_of(new))
    if to_build:
        _need_inputs(plan, obs, inputs, mosb, to_build)
        entitlement = buildsecrets.entitlement_copy(obs, mosb.name)
        for arch in to_build:
            plan.create_jobs.append(
                jobspec.build_job(inputs, mosb.name, mosb.uid, arch, obs.settings, entitlement)
            )
    return records


def _need_inputs(
    plan: Plan, obs: Observed, inputs: BuildInputs, mosb: MosbView, arches: list[str]
) -> None:
    """The inputs ConfigMap, unless this MOSB's exists; the Secret copies, afresh when builds
    start, and for the push Job (`arches` empty) only those missing (no 409s, no deletes)."""
    if obs.configmaps.get(jobspec.inputs_configmap_name(mosb.name)) != mosb.uid:
        plan.create_configmaps.append(
            jobspec.inputs_configmap(inputs, mosb.name, mosb.uid, arches, obs.settings)
        )
    if not plan.copy_secrets:
        copies = buildsecrets.copies(obs, mosb.name, mosb.uid)
        plan.copy_secrets = copies if arches else [c for c in copies if c.name not in obs.secrets]


def _push(
    plan: Plan,
    obs: Observed,
    inputs: BuildInputs,
    mosb: MosbView,
    records: Mapping[str, ArchBuildRecord],
) -> tuple[str | None, PushState | None]:
    """The final digested pull spec once known, and the push step's state if it ran."""
    if not records or not all(r.phase.has_image for r in records.values()):
        return None, None
    if len(records) == 1:  # homogeneous: the image itself, no list (as upstream)
        return next(iter(records.values())).image, None
    name = jobspec.push_job_name(mosb.name)
    job = obs.jobs.get(name)
    unfinished = mosb.terminal is None
    if job is None:
        if name in {r.name for r in mosb.status.related_objects} and unfinished:
            return None, (ArchBuildPhase.INTERRUPTED, f"push Job {name} was deleted")
        same = reuse.list_step(obs, inputs, mosb, records) if unfinished else None
        if same is not None:  # an earlier list of these digests, or asking whether it exists
            plan.image_checks += [same.question] if same.question else []
            return same.digested, (same.phase, same.message)
        if unfinished:
            images = {a: str(r.image) for a, r in records.items()}
            _need_inputs(plan, obs, inputs, mosb, [])
            plan.create_jobs.append(
                jobspec.push_job(inputs, mosb.name, mosb.uid, images, obs.settings)
            )
        return None, (ArchBuildPhase.PENDING, f"creating push Job {name}")
    outcome = job_outcome(job, obs.pods.get(name, ()), obs.now)
    digested = f"{inputs.repository}@{outcome.digest}" if outcome.digest else None
    return digested, (outcome.phase, f"push: {outcome.message or outcome.phase.value.lower()}")


def _serve_requests(plan: Plan, mosb: MosbView, *, rebuild: bool, retry: bool) -> None:
    """Take the rebuild and retry-failed requests off the MOSC once served."""
    if retry and mosb.terminal not in _RETRIED:
        plan.mosc_annotations[RETRY_FAILED_ANNOTATION] = None
    written = plan.mosb_status.get(mosb.name)
    done = mosb.terminal is not None or (written is not None and written.terminal is not None)
    if rebuild and mosb.fresh and done:
        # Unmark first: a crash in between rebuilds again rather than losing a request.
        plan.mosb_annotations.setdefault(mosb.name, {})[FORCED_REBUILD_ANNOTATION] = None
        plan.mosc_annotations[REBUILD_ANNOTATION] = None
