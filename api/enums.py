"""The API's enumerations: architectures, condition types and statuses, reasons.

Values as upstream spells them (openshift/api machineconfiguration/v1 and the MCO).
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What the operator acts on and how it publishes (README "Two modes")."""

    BUILDER = "builder"  # upstream's group; publishes through the MOSC status
    ALONGSIDE_MCO = "alongside-mco"  # our group; publishes through a MachineConfig


class KubeArch(StrEnum):
    """Values of the node label `kubernetes.io/arch` the upstream API has an enum value for."""

    AMD64 = "amd64"
    ARM64 = "arm64"
    PPC64LE = "ppc64le"
    S390X = "s390x"

    @property
    def containerfile_arch(self) -> ContainerfileArch:
        return ContainerfileArch(_KUBE_TO_CONTAINERFILE[self])


class ContainerfileArch(StrEnum):
    """`spec.containerFile[].containerfileArch`; `NoArch` applies to every architecture."""

    AMD64 = "AMD64"
    ARM64 = "ARM64"
    PPC64LE = "PPC64LE"
    S390X = "S390X"
    NO_ARCH = "NoArch"

    @property
    def kube_arch(self) -> KubeArch | None:
        """The `kubernetes.io/arch` value, or None for NoArch."""
        value = _CONTAINERFILE_TO_KUBE.get(self.value)
        return None if value is None else KubeArch(value)

    @classmethod
    def from_kube_arch(cls, value: str) -> ContainerfileArch:
        """`amd64` -> AMD64 etc. Raises ValueError for a value with no API enum value.

        The value must already be normalised (`x86_64` -> `amd64` is the arch module's job).
        """
        try:
            return cls(_KUBE_TO_CONTAINERFILE[value])
        except KeyError:
            known = ", ".join(_KUBE_TO_CONTAINERFILE)
            raise ValueError(
                f"architecture {value!r} has no containerfileArch value (known: {known})"
            ) from None


_CONTAINERFILE_TO_KUBE: dict[str, str] = {
    "AMD64": "amd64",
    "ARM64": "arm64",
    "PPC64LE": "ppc64le",
    "S390X": "s390x",
}
_KUBE_TO_CONTAINERFILE: dict[str, str] = {v: k for k, v in _CONTAINERFILE_TO_KUBE.items()}


class MachineOSImageBuilderType(StrEnum):
    JOB = "Job"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class BuildProgress(StrEnum):
    """MachineOSBuild condition types (upstream type BuildProgress)."""

    PREPARED = "Prepared"
    BUILDING = "Building"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    SUCCEEDED = "Succeeded"

    @property
    def terminal(self) -> bool:
        """Upstream freezes a MachineOSBuild's conditions once one of these is True."""
        return self in _TERMINAL_PROGRESS


_TERMINAL_PROGRESS = frozenset(
    {BuildProgress.SUCCEEDED, BuildProgress.FAILED, BuildProgress.INTERRUPTED}
)


class MachineOSBuildReason(StrEnum):
    """The reasons the MCO writes on MachineOSBuild conditions (pkg/apihelpers/machineosbuild.go).

    Upstream uses one fixed reason per condition type, whatever its status.
    """

    PREPARED = "Prepared"
    BUILDING = "Building"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    READY = "Ready"  # on the Succeeded condition


class MachineConfigPoolConditionType(StrEnum):
    """All MachineConfigPool condition types upstream defines."""

    UPDATED = "Updated"
    UPDATING = "Updating"
    NODE_DEGRADED = "NodeDegraded"
    RENDER_DEGRADED = "RenderDegraded"
    IMAGE_BUILD_DEGRADED = "ImageBuildDegraded"
    PINNED_IMAGE_SETS_DEGRADED = "PinnedImageSetsDegraded"
    POOL_SYNCHRONIZER_DEGRADED = "PoolSynchronizerDegraded"
    DEGRADED = "Degraded"
    BUILD_PENDING = "BuildPending"
    BUILDING = "Building"
    BUILD_SUCCESS = "BuildSuccess"
    BUILD_FAILED = "BuildFailed"
    BUILD_INTERRUPTED = "BuildInterrupted"


class ImageBuildDegradedReason(StrEnum):
    """Reasons of the MCP condition ImageBuildDegraded as the MCO sets them.

    Upstream reuses MachineConfigPoolConditionType values as reasons: BuildPending (False,
    a build exists but has not started), Building (False), BuildSuccess (False),
    BuildFailed (True), BuildInterrupted (False: an interrupted build is not a failed one).
    """

    BUILDING = "Building"
    BUILD_SUCCESS = "BuildSuccess"
    BUILD_FAILED = "BuildFailed"
    BUILD_PENDING = "BuildPending"
    BUILD_INTERRUPTED = "BuildInterrupted"


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


# -- Kubernetes core: what we read of Jobs and Pods ---------------------------------------


class PodPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class JobConditionType(StrEnum):
    COMPLETE = "Complete"
    FAILED = "Failed"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class KernelType(StrEnum):
    """`spec.kernelType` of a MachineConfig: the kernel the OS image boots.

    `64k-pages` is a kernel built for arm64 only (`ARCHES_64K_PAGES`); upstream's MCD
    refuses it elsewhere. An empty value means the default kernel."""

    DEFAULT = "default"
    REALTIME = "realtime"
    PAGES_64K = "64k-pages"


ARCHES_64K_PAGES = frozenset({KubeArch.ARM64.value})


class EventReason(StrEnum):
    """Reasons of the events this controller posts (and of its refusals, which become
    Warning events on the MachineOSConfig). `kubectl describe` shows them."""

    # On a MachineOSBuild: one per architecture transition (set by the planner).
    ARCH_BUILD_PENDING = "ArchBuildPending"
    ARCH_BUILD_WAITING = "ArchBuildWaiting"
    ARCH_BUILD_STARTED = "ArchBuildStarted"
    ARCH_BUILD_SUCCEEDED = "ArchBuildSucceeded"
    ARCH_BUILD_FAILED = "ArchBuildFailed"
    ARCH_BUILD_INTERRUPTED = "ArchBuildInterrupted"
    ARCH_BUILD_REUSED = "ArchBuildReused"
    # On a MachineOSBuild: one per build state.
    BUILD_PREPARED = "BuildPrepared"
    BUILD_STARTED = "BuildStarted"
    BUILD_SUCCEEDED = "BuildSucceeded"
    BUILD_FAILED = "BuildFailed"
    BUILD_INTERRUPTED = "BuildInterrupted"
    # On a MachineOSConfig.
    BUILD_CREATED = "BuildCreated"
    # Refusals: why nothing is built (Warning events on the MachineOSConfig).
    INVALID_MACHINE_OS_CONFIG = "InvalidMachineOSConfig"
    POOL_NOT_FOUND = "PoolNotFound"
    NO_RENDERED_CONFIG = "NoRenderedConfig"
    RENDERED_CONFIG_NOT_FOUND = "RenderedConfigNotFound"
    INVALID_BASE_IMAGE = "InvalidBaseImage"
    ARCHITECTURES_PENDING = "ArchitecturesPending"
    NO_ARCHITECTURES = "NoArchitectures"
    NO_CONTAINERFILE = "NoContainerfile"
    UNPUBLISHABLE_PUSH_SPEC = "UnpublishablePushSpec"
    PUSH_SECRET_NOT_FOUND = "PushSecretNotFound"  # noqa: S105 - a reason
    PUSH_SECRET_WRONG_TYPE = "PushSecretWrongType"  # noqa: S105 - a reason
    PULL_SECRET_NOT_FOUND = "PullSecretNotFound"  # noqa: S105 - a reason
    PULL_SECRET_WRONG_TYPE = "PullSecretWrongType"  # noqa: S105 - a reason
    BUILDER_IMAGE_NOT_FOUND = "BuilderImageNotFound"
    RECORD_UNREADABLE = "RecordUnreadable"
    INVALID_BUILD_INPUTS = "InvalidBuildInputs"
    # alongside-mco: on the MachineOSConfig, about the pool and its MachineConfig.
    IMAGE_PUBLISHED = "ImagePublished"
    POOL_PAUSED_FOR_REBUILD = "PoolPausedForRebuild"
    POOL_RELEASED = "PoolReleased"
    POOL_RELEASED_BUILD_FAILED = "PoolReleasedBuildFailed"
    NO_BASE_IMAGE = "NoBaseImage"
    UNSUPPORTED_KERNEL_TYPE = "UnsupportedKernelType"
    INVALID_EXTENSION = "InvalidExtension"
    NO_EXTENSIONS_IMAGE = "NoExtensionsImage"
    # On a MachineConfigPool (set by the recorder).
    UNSUPPORTED_ARCHITECTURE = "UnsupportedArchitecture"
    # On a MachineOSConfig: retention and pruning (the retired MachineOSBuild is gone by
    # the time its images are pruned, so the events name it on its MachineOSConfig).
    IMAGES_PRUNED = "ImagesPruned"
    IMAGES_KEPT = "ImagesKept"
    PRUNE_REFUSED = "PruneRefused"


class PruneRefusal(StrEnum):
    """Why a registry refused a delete: the `reason` label of mosb_prune_refused_total."""

    METHOD_NOT_ALLOWED = "MethodNotAllowed"  # deletes disabled (distribution: 405)
    UNAUTHORIZED = "Unauthorized"  # the push secret may not delete (401, 403)
    FAILED = "Failed"  # anything else: unreachable, timeout, a 5xx
