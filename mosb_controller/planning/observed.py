"""What the planner sees: `Observed`, and small frozen views of Jobs, Pods and
MachineOSBuilds in it. Pure.

The views keep only what decisions need, so the operator's indexes stay small and two
observations that would lead to the same plan compare equal.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from api import (
    ARCH_BUILDS_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    AnnotationError,
    ArchBuildRecord,
    BuildProgress,
    JobConditionType,
    MachineConfig,
    MachineConfigPool,
    MachineOSBuildStatus,
    MachineOSConfig,
    PodPhase,
    decode_arch_builds,
    describe_validation_error,
    parse_time,
)
from api.names import (
    ARCH_ANNOTATION,
    BUILD_UID_LABEL,
    FORCED_REBUILD_ANNOTATION,
    MOSB_ANNOTATION,
    MOSC_ANNOTATION,
    ROLE_LABEL,
)
from mosb_controller.arch import ArchSummary
from mosb_controller.planning.network import NO_NETWORK, ClusterNetwork
from mosb_controller.settings import Settings


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return None


@dataclass(frozen=True)
class JobView:
    name: str
    mosb: str
    mosc: str
    owner_uid: str  # the MOSB that owns it: a Job left by an earlier MOSB of the same name differs
    labelled_uid: str  # its BUILD_UID_LABEL (absent on Jobs of versions before the label)
    role: str  # build | push
    arch: str | None
    uid: str
    deleting: bool
    complete: bool
    failed: bool
    failure_reason: str | None
    failure_message: str | None
    active: int
    start: dt.datetime | None
    end: dt.datetime | None


def job_view(job: Mapping[str, Any]) -> JobView:
    meta = job.get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    status = job.get("status") or {}
    complete = _condition(job, JobConditionType.COMPLETE)
    failed = _condition(job, JobConditionType.FAILED)
    is_failed = bool(failed and failed.get("status") == "True")
    return JobView(
        name=str(meta.get("name", "")),
        mosb=str(annotations.get(MOSB_ANNOTATION, "")),
        mosc=str(annotations.get(MOSC_ANNOTATION, "")),
        owner_uid=next(
            (str(o.get("uid")) for o in meta.get("ownerReferences") or [] if o.get("controller")),
            "",
        ),
        labelled_uid=str(labels.get(BUILD_UID_LABEL, "")),
        role=str(labels.get(ROLE_LABEL, "")),
        arch=annotations.get(ARCH_ANNOTATION),
        uid=str(meta.get("uid", "")),
        deleting=bool(meta.get("deletionTimestamp")),
        complete=bool(complete and complete.get("status") == "True"),
        failed=is_failed,
        failure_reason=failed.get("reason") if failed and is_failed else None,
        failure_message=failed.get("message") if failed and is_failed else None,
        active=int(status.get("active") or 0),
        start=parse_time(status.get("startTime")),
        end=parse_time(status.get("completionTime")),
    )


@dataclass(frozen=True)
class PodView:
    name: str
    job: str
    phase: str
    node: str | None
    created: dt.datetime | None
    exit_code: int | None
    message: str | None  # termination message (the digest, or the failure excerpt)
    waiting: str | None  # why it is not running yet (unschedulable, image pull, ...)
    finished: dt.datetime | None = None  # when its container terminated
    job_uid: str = ""  # the Job it belongs to: a namesake Job's pods are not ours


def pod_view(pod: Mapping[str, Any]) -> PodView:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    exit_code = message = waiting = finished = None
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if "terminated" in state:
            exit_code = state["terminated"].get("exitCode")
            message = state["terminated"].get("message")
            finished = state["terminated"].get("finishedAt")
        elif "waiting" in state and state["waiting"].get("reason") != "ContainerCreating":
            w = state["waiting"]
            waiting = f"{w.get('reason')}: {w.get('message', '')}".strip(": ")
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        waiting = f"unschedulable: {scheduled.get('message', '')}".strip(": ")
    return PodView(
        name=str(meta.get("name", "")),
        job=str(labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or ""),
        phase=str(status.get("phase", PodPhase.PENDING)),
        node=(pod.get("spec") or {}).get("nodeName"),
        created=parse_time(meta.get("creationTimestamp")),
        exit_code=exit_code,
        message=message,
        waiting=waiting,
        finished=parse_time(finished),
        job_uid=str(
            labels.get("batch.kubernetes.io/controller-uid") or labels.get("controller-uid") or ""
        ),
    )


@dataclass(frozen=True)
class MosbView:
    name: str
    uid: str
    mosc: str
    deleting: bool
    fresh: bool  # created for a rebuild request: no reuse
    created: dt.datetime | None
    records: Mapping[str, ArchBuildRecord]
    record_error: str | None
    status: MachineOSBuildStatus = field(default_factory=MachineOSBuildStatus)
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str = ""
    rendered_config: str = ""  # the MachineConfig it was built from

    # Cached: a view is made once per watch event of its MOSB, and every pass until the
    # next event asks these again (the status compare was 4 % of the operator's samples).
    @functools.cached_property
    def state(self) -> BuildProgress | None:
        return self.status.state

    @functools.cached_property
    def terminal(self) -> BuildProgress | None:
        return self.status.terminal

    @functools.cached_property
    def status_json(self) -> dict[str, Any]:
        """The status as a pass would write it, to compare a new status with."""
        return self.status.to_k8s()


def mosc_of_mosb(mosb: Mapping[str, Any]) -> str:
    """The MachineOSConfig a MOSB body belongs to, without reading the rest of it."""
    meta, spec = mosb.get("metadata") or {}, mosb.get("spec") or {}
    return str(
        (spec.get("machineOSConfig") or {}).get("name")
        or (meta.get("labels") or {}).get(MACHINE_OS_CONFIG_LABEL, "")
    )


def mosb_view(mosb: Mapping[str, Any]) -> MosbView:
    meta = mosb.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    spec = mosb.get("spec") or {}
    records: Mapping[str, ArchBuildRecord] = {}
    error = None
    try:
        records = decode_arch_builds(annotations.get(ARCH_BUILDS_ANNOTATION))
    except AnnotationError as exc:
        error = str(exc)
    try:
        status = MachineOSBuildStatus.from_k8s(mosb.get("status") or {})
    except ValidationError as exc:  # the CRD's schema makes this rare: say so, don't guess
        status, error = (
            MachineOSBuildStatus(),
            f"status unreadable: {describe_validation_error(exc)}",
        )
    return MosbView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        mosc=mosc_of_mosb(mosb),
        deleting=bool(meta.get("deletionTimestamp")),
        fresh=annotations.get(FORCED_REBUILD_ANNOTATION) == "true",
        created=parse_time(meta.get("creationTimestamp")),
        records=records,
        record_error=error,
        status=status,
        annotations=annotations,
        resource_version=str(meta.get("resourceVersion", "")),
        rendered_config=str((spec.get("machineConfig") or {}).get("name", "")),
    )


class RegistryAnswer:
    """The outcome of an image existence check."""

    EXISTS = "exists"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ImageCheck:
    state: str  # RegistryAnswer.*
    digest: str | None = None  # for EXISTS: the manifest digest
    detail: str = ""


@dataclass(frozen=True)
class Observed:
    """Everything one pass of the planner reads, for one MachineOSConfig."""

    mosc: MachineOSConfig
    mosc_uid: str
    pool: MachineConfigPool | None
    rendered: MachineConfig | None
    pool_arches: ArchSummary | None
    buildable: Mapping[str, int]  # Ready, schedulable nodes per architecture, cluster-wide
    # name → type, in the controller namespace: the MOSC's Secrets and its builds' copies
    secrets: Mapping[str, str]
    mosbs: Mapping[str, MosbView]  # this MOSC's
    jobs: Mapping[str, JobView]
    pods: Mapping[str, Sequence[PodView]]  # by Job name
    configmaps: Mapping[str, str]  # our ConfigMaps: name → owner (MOSB) uid
    images: Mapping[str, ImageCheck]  # registry answers, by reference
    now: dt.datetime
    settings: Settings
    deleted_jobs: frozenset[tuple[str, str]] = frozenset()  # (name, owner uid) seen deleted
    # alongside-mco: the release's base OS image (the MCO's osimageurl ConfigMap), and the
    # MachineConfig we publish the pool's image through, if it exists.
    release_base: str | None = None
    published: MachineConfig | None = None
    # The MOSC's Secrets in the secrets namespace, name → type, when that is not the
    # controller namespace (read by the build loop); None: they are in `secrets`.
    named_secrets: Mapping[str, str] | None = None
    global_pull_secret: str | None = None  # its type; None: not configured or absent
    entitlement: bool = False  # the configured entitlement Secret exists
    # The configured RPM repositories' and keys' ConfigMaps: file name → content; empty
    # when not configured or absent.
    yum_repos: Mapping[str, str] = field(default_factory=dict)
    rpm_gpg: Mapping[str, str] = field(default_factory=dict)
    mco_image: str | None = None  # the MCO's image, when its images ConfigMap is configured
    network: ClusterNetwork = NO_NETWORK  # proxy and CAs (read by the build loop)
    # The builds' Secret copies (among `secrets`): name → the MOSB uid on BUILD_UID_LABEL.
    secret_copies: Mapping[str, str] = field(default_factory=dict)
