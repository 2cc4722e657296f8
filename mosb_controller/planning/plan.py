"""The plan for one MachineOSConfig: a pure function of what is observed.

`plan_mosc(observed)` answers: which MachineOSBuild should exist, which builds it reuses
and which it runs, which Jobs to create, the status people read, and what to tell the
MachineOSConfig and the pool. It reads no clock (`observed.now`), does no I/O, and asks
for the registry answers it needs (`Plan.image_checks`) instead of fetching them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api import (
    API_VERSION,
    ARCH_BUILDS_ANNOTATION,
    ARCH_DIGESTS_ANNOTATION,
    CURRENT_MACHINE_OS_BUILD_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    REBUILD_ANNOTATION,
    RENDERED_MACHINE_CONFIG_LABEL,
    RETRY_FAILED_ANNOTATION,
    TARGET_MACHINE_CONFIG_POOL_LABEL,
    ArchBuildPhase,
    ArchBuildRecord,
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    encode_arch_builds,
    encode_arch_digests,
)
from api.names import FORCED_REBUILD_ANNOTATION
from mosb_controller.arch import ArchSummary
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.arch_state import advance_record, describe, job_outcome
from mosb_controller.planning.inputs import BuildInputs, Refusal, build_inputs
from mosb_controller.planning.observed import ImageCheck, JobView, MosbView, PodView, RegistryAnswer
from mosb_controller.settings import Settings

DOCKERCONFIG_TYPE = "kubernetes.io/dockerconfigjson"
CONDITION_TYPES = ("Prepared", "Building", "Failed", "Interrupted", "Succeeded")
# Upstream's reason and message of each condition when it is not the one that holds.
_DEFAULTS = {
    "Prepared": ("Prepared", "Build Prepared and Pending"),
    "Building": ("Building", "Image Build In Progress"),
    "Failed": ("Failed", "Build Failed"),
    "Interrupted": ("Interrupted", "Build Interrupted"),
    "Succeeded": ("Ready", "Build Ready"),
}


@dataclass(frozen=True)
class Observed:
    mosc: MachineOSConfig
    mosc_uid: str
    pool: MachineConfigPool | None
    rendered: MachineConfig | None
    pool_arches: ArchSummary | None
    buildable: Mapping[str, int]  # Ready, schedulable nodes per architecture, cluster-wide
    secrets: Mapping[str, str]  # name → type, in the controller namespace
    mosbs: Mapping[str, MosbView]  # this MOSC's
    jobs: Mapping[str, JobView]
    pods: Mapping[str, Sequence[PodView]]  # by Job name
    configmaps: Mapping[str, str]  # our ConfigMaps: name → owner (MOSB) uid
    images: Mapping[str, ImageCheck]  # registry answers, by reference
    now: dt.datetime
    settings: Settings
    deleted_jobs: frozenset[tuple[str, str]] = frozenset()  # (name, owner uid) seen deleted


@dataclass(frozen=True)
class EventSpec:
    kind: str  # MachineOSBuild | MachineOSConfig
    name: str
    type: str  # Normal | Warning
    reason: str
    message: str
    arch: str | None = None  # a per-architecture transition's architecture


@dataclass(frozen=True)
class ArchDecision:
    """For the dry run: what happens to one architecture, and why."""

    arch: str
    action: str  # build | reuse | in progress | done | failed
    key: str
    reason: str


@dataclass
class Plan:
    mosb_name: str | None = None
    refusal: Refusal | None = None
    decisions: list[ArchDecision] = field(default_factory=list)
    image_checks: list[str] = field(default_factory=list)
    delete_mosbs: list[str] = field(default_factory=list)
    create_mosb: dict[str, Any] | None = None
    create_configmaps: list[dict[str, Any]] = field(default_factory=list)
    create_jobs: list[dict[str, Any]] = field(default_factory=list)
    delete_jobs: list[str] = field(default_factory=list)
    delete_configmaps: list[str] = field(default_factory=list)
    mosb_annotations: dict[str, dict[str, str | None]] = field(default_factory=dict)
    mosb_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    mosc_annotations: dict[str, str | None] = field(default_factory=dict)
    mosc_status: dict[str, Any] | None = None
    pool_condition: dict[str, Any] | None = None
    events: list[EventSpec] = field(default_factory=list)


def plan_mosc(obs: Observed) -> Plan:
    plan = Plan()
    inputs = build_inputs(obs.mosc, obs.pool, obs.rendered, obs.pool_arches)
    if isinstance(inputs, BuildInputs):
        inputs = _check_secrets(inputs, obs.secrets, obs.settings.namespace)
    if isinstance(inputs, Refusal):
        plan.refusal = inputs
        return plan
    desired = inputs.mosb_name()
    plan.mosb_name = desired
    annotations = obs.mosc.metadata.annotations or {}
    rebuild = REBUILD_ANNOTATION in annotations
    retry = RETRY_FAILED_ANNOTATION in annotations
    current = obs.mosbs.get(desired)

    # One active build per MOSC: unfinished builds of other inputs go (as upstream).
    others = [m for m in obs.mosbs.values() if m.name != desired and m.terminal is None]
    plan.delete_mosbs += [m.name for m in others if not m.deleting]

    if current is None:
        if not others and not _clear_leftovers(plan, obs, inputs, desired):
            _create(plan, obs, inputs, desired, fresh=rebuild)
    elif current.deleting:
        pass  # recreated once it is gone
    elif (rebuild and not current.fresh) or (
        retry and current.terminal in ("Failed", "Interrupted")
    ):
        # Both requests recreate the MOSB under the same name: a rebuild builds every
        # architecture again; a retry reuses the architectures that already pushed.
        plan.delete_mosbs.append(current.name)
    else:
        _progress(plan, obs, inputs, current)
        _serve_requests(plan, obs, current, rebuild=rebuild, retry=retry)
    exists = current is not None or plan.create_mosb is not None
    if exists and annotations.get(CURRENT_MACHINE_OS_BUILD_ANNOTATION) != desired:
        plan.mosc_annotations[CURRENT_MACHINE_OS_BUILD_ANNOTATION] = desired
    return plan


def _check_secrets(
    inputs: BuildInputs, secrets: Mapping[str, str], namespace: str
) -> BuildInputs | Refusal:
    for role, name in (("push", inputs.push_secret), ("pull", inputs.pull_secret)):
        if name is None:
            continue
        if name not in secrets:
            return Refusal(
                f"{role.capitalize()}SecretNotFound",
                f"the {role} secret {name} does not exist in namespace {namespace}",
            )
        if secrets[name] != DOCKERCONFIG_TYPE:
            return Refusal(
                f"{role.capitalize()}SecretWrongType",
                f"the {role} secret {name} has type {secrets[name]}, not {DOCKERCONFIG_TYPE}",
            )
    return inputs


# -- a new MachineOSBuild --------------------------------------------------------------


def _clear_leftovers(plan: Plan, obs: Observed, inputs: BuildInputs, desired: str) -> bool:
    """Jobs and the inputs ConfigMap an earlier MOSB of the same name left (a rebuild or
    retry deletes the MOSB; garbage collection of its children lags): remove them and
    create the MOSB only once they are gone, so the new build never meets the old one's
    objects. True while something is left."""
    names = {jobspec.build_job_name(desired, a) for a in inputs.architectures}
    names.add(jobspec.push_job_name(desired))
    left = [n for n in sorted(names) if n in obs.jobs]
    plan.delete_jobs += [n for n in left if not obs.jobs[n].deleting]
    configmap = jobspec.inputs_configmap_name(desired)
    if configmap in obs.configmaps:
        plan.delete_configmaps.append(configmap)
        left.append(configmap)
    return bool(left)


def _reuse_candidates(
    obs: Observed, inputs: BuildInputs, desired: str, arch: str, key: str
) -> list[tuple[str, str]]:
    """(reference, source MOSB) pairs to try, in order: earlier builds with the same key,
    then this MOSB's own per-architecture tag (same name means same inputs)."""
    found = []
    for mosb in sorted(obs.mosbs.values(), key=lambda m: m.created or obs.now, reverse=True):
        record = mosb.records.get(arch)
        if record and record.key == key and record.phase.has_image and record.image:
            found.append((record.image, mosb.name))
    found.append((f"{inputs.repository}:{inputs.tag(desired, arch)}", desired))
    return found


def _initial_record(
    plan: Plan, obs: Observed, inputs: BuildInputs, desired: str, arch: str, fresh: bool
) -> ArchBuildRecord | None:
    """The decision for one architecture of a new MOSB; None while registry answers are
    missing (they are added to `plan.image_checks`)."""
    key = inputs.arch_key(arch)
    pending = ArchBuildRecord(arch=arch, key=key, phase=ArchBuildPhase.PENDING)
    if fresh:
        plan.decisions.append(ArchDecision(arch, "build", key, "rebuild requested"))
        return pending
    for ref, source in _reuse_candidates(obs, inputs, desired, arch, key):
        answer = obs.images.get(ref)
        if answer is None:
            plan.image_checks.append(ref)
            return None
        if answer.state == RegistryAnswer.UNKNOWN:
            reason = f"cannot check {ref} ({answer.detail}), so building"
            plan.decisions.append(ArchDecision(arch, "build", key, reason))
            return pending
        if answer.state == RegistryAnswer.EXISTS and answer.digest:
            plan.decisions.append(
                ArchDecision(arch, "reuse", key, f"same inputs as {source}, image {ref} exists")
            )
            return pending.model_copy(
                update={
                    "phase": ArchBuildPhase.REUSED,
                    "digest": answer.digest,
                    "image": f"{inputs.repository}@{answer.digest}",
                    "reused_from": source,
                    "reason": "SameInputs",
                    "message": f"image of {source}",
                    "start": obs.now,
                    "end": obs.now,
                }
            )
    plan.decisions.append(ArchDecision(arch, "build", key, "no earlier image with these inputs"))
    return pending


def _create(plan: Plan, obs: Observed, inputs: BuildInputs, desired: str, fresh: bool) -> None:
    records = {}
    for arch in inputs.architectures:
        record = _initial_record(plan, obs, inputs, desired, arch, fresh)
        if record is not None:
            records[arch] = record
    if plan.image_checks:
        return  # decide once the registry has answered
    annotations = {ARCH_BUILDS_ANNOTATION: encode_arch_builds(records)}
    if fresh:
        annotations[FORCED_REBUILD_ANNOTATION] = "true"
    plan.create_mosb = {
        "apiVersion": API_VERSION,
        "kind": "MachineOSBuild",
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
                    "apiVersion": API_VERSION,
                    "kind": "MachineOSConfig",
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
    reused = [a for a, r in records.items() if r.phase is ArchBuildPhase.REUSED]
    building = [a for a in records if a not in reused]
    plan.events.append(
        EventSpec(
            "MachineOSConfig",
            inputs.mosc,
            "Normal",
            "BuildCreated",
            f"MachineOSBuild {desired}: building {', '.join(building) or 'nothing'}"
            + (f"; reusing {', '.join(reused)}" if reused else ""),
        )
    )


# -- an existing MachineOSBuild --------------------------------------------------------


def _progress(plan: Plan, obs: Observed, inputs: BuildInputs, mosb: MosbView) -> None:
    if mosb.record_error is not None:  # someone edited our annotation: say so, once
        plan.refusal = Refusal(
            "RecordUnreadable", f"MachineOSBuild {mosb.name}: {mosb.record_error}"
        )
        return
    settings, now = obs.settings, obs.now
    terminal = mosb.terminal
    # Jobs of an earlier MOSB with the same name (deleted for a rebuild or retry) may
    # outlive it until garbage collection: they are not this build's. Remove them first.
    names = {jobspec.build_job_name(mosb.name, a) for a in mosb.records}
    names.add(jobspec.push_job_name(mosb.name))
    stale = [j for n, j in obs.jobs.items() if n in names and j.owner_uid != mosb.uid]
    if stale:
        plan.delete_jobs += [j.name for j in stale if not j.deleting]
        return
    records: dict[str, ArchBuildRecord] = {}
    to_build = []
    for arch, record in sorted(mosb.records.items()):
        name = jobspec.build_job_name(mosb.name, arch)
        job = obs.jobs.get(name)
        new, start_job = advance_record(
            record,
            job,
            obs.pods.get(name, ()),
            job_name=name,
            image_repository=inputs.repository,
            buildable_nodes=obs.buildable.get(arch, 0),
            now=now,
            no_node_timeout=dt.timedelta(seconds=settings.no_node_timeout_seconds),
            may_start=terminal is None,
            job_deleted=(name, mosb.uid) in obs.deleted_jobs,
        )
        records[arch] = new
        if start_job:
            to_build.append(arch)
        if new.phase != record.phase:
            _arch_event(plan, mosb.name, new)
        plan.decisions.append(_decision(new))
    if to_build:
        if obs.configmaps.get(jobspec.inputs_configmap_name(mosb.name)) != mosb.uid:
            plan.create_configmaps.append(
                jobspec.inputs_configmap(inputs, mosb.name, mosb.uid, to_build, settings)
            )
        for arch in to_build:
            plan.create_jobs.append(jobspec.build_job(inputs, mosb.name, mosb.uid, arch, settings))

    final_digest, push_state = _push(plan, obs, inputs, mosb, records, terminal)
    state, message = _state(records, push_state, final_digest)
    _record_annotations(plan, mosb, records)
    if terminal is None:
        status = _status(obs, inputs, mosb, records, state, message, final_digest)
        if status != {k: mosb.status.get(k) for k in status}:
            plan.mosb_status[mosb.name] = status
        if state != _state_of(mosb):
            plan.events.append(_state_event(mosb.name, state, message))
    outcome = terminal or state
    _pool_condition(plan, obs, outcome, mosb.name, message)
    if outcome == "Succeeded":
        digested = final_digest or mosb.status.get("digestedImagePushSpec")
        if digested:
            _publish(plan, obs, mosb.name, str(digested))
        _cleanup(plan, obs, mosb.name, records)


def _decision(record: ArchBuildRecord) -> ArchDecision:
    action = {
        ArchBuildPhase.REUSED: "reuse",
        ArchBuildPhase.SUCCEEDED: "done",
        ArchBuildPhase.FAILED: "failed",
        ArchBuildPhase.INTERRUPTED: "failed",
    }.get(record.phase, "in progress")
    return ArchDecision(record.arch, action, record.key, describe(record))


def _push(
    plan: Plan,
    obs: Observed,
    inputs: BuildInputs,
    mosb: MosbView,
    records: Mapping[str, ArchBuildRecord],
    terminal: str | None,
) -> tuple[str | None, tuple[ArchBuildPhase, str] | None]:
    """The final digested pull spec once known, and the push step's state if it ran."""
    if not records or not all(r.phase.has_image for r in records.values()):
        return None, None
    if len(records) == 1:  # homogeneous: the image itself, no list (as upstream)
        only = next(iter(records.values()))
        return only.image, None
    name = jobspec.push_job_name(mosb.name)
    job = obs.jobs.get(name)
    if job is None:
        related = {r.get("name") for r in mosb.status.get("relatedObjects") or []}
        if name in related and terminal is None:
            return None, (ArchBuildPhase.INTERRUPTED, f"push Job {name} was deleted")
        if terminal is None:
            images = {a: str(r.image) for a, r in records.items()}
            if obs.configmaps.get(jobspec.inputs_configmap_name(mosb.name)) != mosb.uid:
                plan.create_configmaps.append(
                    jobspec.inputs_configmap(inputs, mosb.name, mosb.uid, [], obs.settings)
                )
            plan.create_jobs.append(
                jobspec.push_job(inputs, mosb.name, mosb.uid, images, obs.settings)
            )
        return None, (ArchBuildPhase.PENDING, f"creating push Job {name}")
    outcome = job_outcome(job, obs.pods.get(name, ()), obs.now)
    digested = f"{inputs.repository}@{outcome.digest}" if outcome.digest else None
    return digested, (outcome.phase, f"push: {outcome.message or outcome.phase.value.lower()}")


def _state(
    records: Mapping[str, ArchBuildRecord],
    push: tuple[ArchBuildPhase, str] | None,
    final: str | None,
) -> tuple[str, str]:
    """The MOSB state (a condition type) and the message naming every architecture."""
    parts = [describe(r) for _, r in sorted(records.items())]
    if push is not None:
        parts.append(push[1])
    message = "; ".join(parts)
    phases = {r.phase for r in records.values()} | ({push[0]} if push else set())
    if ArchBuildPhase.FAILED in phases:
        return "Failed", message
    if ArchBuildPhase.INTERRUPTED in phases:
        return "Interrupted", message
    if final is not None:
        return "Succeeded", message
    if phases & {ArchBuildPhase.BUILDING, ArchBuildPhase.SUCCEEDED} or push is not None:
        return "Building", message
    return "Prepared", message


def _state_of(mosb: MosbView) -> str | None:
    return next((t for t in CONDITION_TYPES if mosb.condition_true(t)), None)


def _conditions(mosb: MosbView, state: str, message: str, now: dt.datetime) -> list[dict[str, str]]:
    old = {c.get("type"): c for c in mosb.status.get("conditions") or []}
    conditions = []
    stamp = _time(now)
    for type_ in CONDITION_TYPES:
        reason, default_message = _DEFAULTS[type_]
        status = "True" if type_ == state else "False"
        previous = old.get(type_) or {}
        since = previous.get("lastTransitionTime") if previous.get("status") == status else None
        conditions.append(
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message[:32768] if status == "True" else default_message,
                "lastTransitionTime": since or stamp,
            }
        )
    return conditions


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(
    obs: Observed,
    inputs: BuildInputs,
    mosb: MosbView,
    records: Mapping[str, ArchBuildRecord],
    state: str,
    message: str,
    final: str | None,
) -> dict[str, Any]:
    def job_ref(name: str) -> dict[str, str]:
        return {
            "group": "batch",
            "resource": "jobs",
            "namespace": obs.settings.namespace,
            "name": name,
        }

    built = sorted(r.job for r in records.values() if r.job)
    push_name = jobspec.push_job_name(mosb.name)
    related = list(built)
    if push_name in obs.jobs or push_name in {
        r.get("name") for r in mosb.status.get("relatedObjects") or []
    }:
        related.append(push_name)
    primary = built[0] if inputs.homogeneous and built else push_name
    status: dict[str, Any] = {
        "conditions": _conditions(mosb, state, message, obs.now),
        "builder": {"imageBuilderType": "Job", "job": job_ref(primary)},
        "relatedObjects": [job_ref(n) for n in related] or None,
    }
    starts = [r.start for r in records.values() if r.start and r.phase is not ArchBuildPhase.REUSED]
    start = mosb.status.get("buildStart") or (_time(min(starts)) if starts else None)
    if start is None and state in ("Succeeded", "Failed", "Interrupted"):
        start = _time(obs.now)
    status["buildStart"] = start
    if state in ("Succeeded", "Failed", "Interrupted"):
        end = obs.now
        if start is not None and _time(end) <= start:  # the schema wants end after start
            end = dt.datetime.fromisoformat(start.replace("Z", "+00:00")) + dt.timedelta(seconds=1)
        status["buildEnd"] = _time(end)
    if final is not None:
        status["digestedImagePushSpec"] = final
    return {k: v for k, v in status.items() if v is not None}


def _record_annotations(plan: Plan, mosb: MosbView, records: Mapping[str, ArchBuildRecord]) -> None:
    wanted: dict[str, str | None] = {ARCH_BUILDS_ANNOTATION: encode_arch_builds(records)}
    digests = {a: str(r.digest) for a, r in records.items() if r.phase.has_image and r.digest}
    if digests:
        wanted[ARCH_DIGESTS_ANNOTATION] = encode_arch_digests(digests)
    changed = {k: v for k, v in wanted.items() if mosb.annotations.get(k) != v}
    if changed:
        plan.mosb_annotations.setdefault(mosb.name, {}).update(changed)


_ARCH_EVENTS = {
    ArchBuildPhase.PENDING: ("Normal", "ArchBuildPending"),
    ArchBuildPhase.WAITING: ("Warning", "ArchBuildWaiting"),
    ArchBuildPhase.BUILDING: ("Normal", "ArchBuildStarted"),
    ArchBuildPhase.SUCCEEDED: ("Normal", "ArchBuildSucceeded"),
    ArchBuildPhase.FAILED: ("Warning", "ArchBuildFailed"),
    ArchBuildPhase.INTERRUPTED: ("Warning", "ArchBuildInterrupted"),
    ArchBuildPhase.REUSED: ("Normal", "ArchBuildReused"),
}


def _arch_event(plan: Plan, mosb: str, record: ArchBuildRecord) -> None:
    type_, reason = _ARCH_EVENTS[record.phase]
    event = EventSpec("MachineOSBuild", mosb, type_, reason, describe(record), record.arch)
    plan.events.append(event)


def _state_event(mosb: str, state: str, message: str) -> EventSpec:
    reason, type_ = {
        "Prepared": ("BuildPrepared", "Normal"),
        "Building": ("BuildStarted", "Normal"),
        "Succeeded": ("BuildSucceeded", "Normal"),
        "Failed": ("BuildFailed", "Warning"),
        "Interrupted": ("BuildInterrupted", "Warning"),
    }[state]
    return EventSpec("MachineOSBuild", mosb, type_, reason, message)


def _pool_condition(plan: Plan, obs: Observed, outcome: str, mosb: str, message: str) -> None:
    if obs.pool is None:
        return
    status, reason = {
        "Failed": ("True", "BuildFailed"),
        "Interrupted": ("True", "BuildFailed"),
        "Succeeded": ("False", "BuildSuccess"),
    }.get(outcome, ("False", "Building"))
    text = {
        "BuildFailed": f"MachineOSBuild {mosb} did not succeed: {message}",
        "BuildSuccess": f"MachineOSBuild {mosb} succeeded",
        "Building": f"MachineOSBuild {mosb} is building",
    }[reason]
    current = obs.pool.status.get_condition("ImageBuildDegraded")
    seen = current.status.value if current and current.status else None
    if current and seen == status and current.reason == reason and current.message == text:
        return
    plan.pool_condition = {
        "type": "ImageBuildDegraded",
        "status": status,
        "reason": reason,
        "message": text[:32768],
        "lastTransitionTime": _time(obs.now),
    }


def _publish(plan: Plan, obs: Observed, mosb: str, digested: str) -> None:
    """Point the MOSC at the finished image (the node rollout watches this)."""
    status = obs.mosc.status
    wanted = {
        "observedGeneration": obs.mosc.metadata.generation,
        "currentImagePullSpec": digested,
        "machineOSBuild": {
            "group": "machineconfiguration.openshift.io",
            "resource": "machineosbuilds",
            "name": mosb,
        },
    }
    current = {
        "observedGeneration": status.observed_generation if status else None,
        "currentImagePullSpec": status.current_image_pull_spec if status else None,
        "machineOSBuild": status.machine_os_build.to_k8s()
        if status and status.machine_os_build
        else None,
    }
    if wanted != current:
        plan.mosc_status = wanted


def _cleanup(plan: Plan, obs: Observed, mosb: str, records: Mapping[str, ArchBuildRecord]) -> None:
    """After success the Jobs and the inputs ConfigMap have served (records keep digests)."""
    names = [jobspec.build_job_name(mosb, a) for a in records] + [jobspec.push_job_name(mosb)]
    plan.delete_jobs += [n for n in names if n in obs.jobs and not obs.jobs[n].deleting]
    cm = jobspec.inputs_configmap_name(mosb)
    if cm in obs.configmaps:
        plan.delete_configmaps.append(cm)


def _serve_requests(
    plan: Plan, obs: Observed, mosb: MosbView, *, rebuild: bool, retry: bool
) -> None:
    """Take the rebuild and retry-failed requests off the MOSC once served."""
    if retry and mosb.terminal not in ("Failed", "Interrupted"):
        plan.mosc_annotations[RETRY_FAILED_ANNOTATION] = None
    written = plan.mosb_status.get(mosb.name)
    done = mosb.terminal is not None or (written is not None and _is_terminal(written))
    if rebuild and mosb.fresh and done:
        # Unmark first: a crash in between rebuilds again rather than losing a request.
        plan.mosb_annotations.setdefault(mosb.name, {})[FORCED_REBUILD_ANNOTATION] = None
        plan.mosc_annotations[REBUILD_ANNOTATION] = None


def _is_terminal(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Succeeded", "Failed", "Interrupted") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
