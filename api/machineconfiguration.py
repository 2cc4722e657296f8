"""Models of the upstream on-cluster layering API, group machineconfiguration.openshift.io/v1.

Faithful to openshift/api `machineconfiguration/v1` (types_machineosconfig.go,
types_machineosbuild.go, types.go) for the fields this controller reads and writes;
other fields of real objects are ignored when parsing (`extra="ignore"`).

The single-object validation rules of the upstream CRDs (OpenAPI limits and CEL rules)
are re-implemented here, so `mosb-controller plan` can refuse bad input read from YAML
files without an API server, with messages a cluster admin can act on. Transition rules
that compare with the previous object (`oldSelf`: immutable MOSB spec, conditions frozen
once a build finished, observedGeneration never moving backwards) need the old object and
are not checked here.

Conventions: Python attribute names are snake_case, JSON keys are the upstream camelCase
names. Models are frozen. `Kind.from_k8s(obj)` parses a Kubernetes object (a dict or
any Mapping, e.g. a kopf body); `obj.to_k8s()` returns a JSON-ready dict with apiVersion
and kind. Empty lists and maps that were not given explicitly are omitted on output (as
Go's `omitempty` would), so parsing and dumping an object gives back the same object.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, field_validator, model_validator

from api.base import (
    Condition,
    K8sModel,
    LabelSelector,
    ObjectReference,
    _find_condition,
    _Kind,
    _unique_condition_types,
)
from api.enums import (
    _KUBE_TO_CONTAINERFILE,
    BuildProgress,
    ConditionStatus,
    ContainerfileArch,
    KubeArch,
    MachineConfigPoolConditionType,
    MachineOSImageBuilderType,
)
from api.names import MACHINE_CONFIG_POOLS, MACHINE_CONFIGS, MACHINE_OS_BUILDS, MACHINE_OS_CONFIGS
from api.validation import (
    CONTAINERFILE_CONTENT_MAX_LENGTH,
    CONTAINERFILE_MAX_ITEMS,
    MACHINE_OS_BUILD_MAX_CONDITIONS,
    MACHINE_OS_BUILD_MAX_RELATED_OBJECTS,
    ImageDigestFormat,
    ImageTagFormat,
    Time,
    _ImageBuilderType,
    _invalid,
    _RenderedConfigName,
    _Subdomain,
)


class MachineConfigPoolReference(K8sModel):
    name: _Subdomain


class ImageSecretObjectReference(K8sModel):
    name: _Subdomain


class MachineOSImageBuilder(K8sModel):
    image_builder_type: _ImageBuilderType


class MachineOSContainerfile(K8sModel):
    containerfile_arch: ContainerfileArch = ContainerfileArch.NO_ARCH
    content: str

    @field_validator("containerfile_arch", mode="before")
    @classmethod
    def _known_arch(cls, value: Any) -> Any:
        if value not in {a.value for a in ContainerfileArch}:
            allowed = ", ".join(a.value for a in ContainerfileArch)
            raise _invalid(f"containerfileArch {value!r} is not one of {allowed}")
        return value

    @model_validator(mode="after")
    def _content_length(self) -> Self:
        if len(self.content) > CONTAINERFILE_CONTENT_MAX_LENGTH:
            raise _invalid(
                f"the {self.containerfile_arch.value} containerfile content is "
                f"{len(self.content)} characters long; the maximum is "
                f"{CONTAINERFILE_CONTENT_MAX_LENGTH}"
            )
        return self


class MachineOSConfigSpec(K8sModel):
    machine_config_pool: MachineConfigPoolReference
    image_builder: MachineOSImageBuilder
    base_image_pull_secret: ImageSecretObjectReference | None = None
    rendered_image_push_secret: ImageSecretObjectReference
    rendered_image_push_spec: ImageTagFormat
    container_file: tuple[MachineOSContainerfile, ...] = ()

    @field_validator("container_file")
    @classmethod
    def _containerfile_list_map(
        cls, value: tuple[MachineOSContainerfile, ...]
    ) -> tuple[MachineOSContainerfile, ...]:
        if len(value) > CONTAINERFILE_MAX_ITEMS:
            raise _invalid(
                f"has {len(value)} entries; at most {CONTAINERFILE_MAX_ITEMS} are allowed "
                "(one per containerfileArch)"
            )
        seen: set[ContainerfileArch] = set()
        for entry in value:
            if entry.containerfile_arch in seen:
                raise _invalid(
                    f"containerfileArch {entry.containerfile_arch.value} appears more than once; "
                    "give each architecture at most one containerfile"
                )
            seen.add(entry.containerfile_arch)
        return value

    @property
    def containerfiles(self) -> dict[ContainerfileArch, str]:
        """containerfileArch -> content (the list is a map keyed by containerfileArch)."""
        return {entry.containerfile_arch: entry.content for entry in self.container_file}

    def containerfile_for(self, arch: ContainerfileArch | KubeArch | str) -> str | None:
        """The content used for one architecture: its own entry, else NoArch's, else None.

        `arch` may be a ContainerfileArch or a `kubernetes.io/arch` value; an architecture
        the API has no enum value for gets the NoArch entry.
        """
        by_arch = self.containerfiles
        if isinstance(arch, ContainerfileArch):
            key: ContainerfileArch | None = arch
        else:
            cf = _KUBE_TO_CONTAINERFILE.get(str(arch))
            key = ContainerfileArch(cf) if cf is not None else None
        if key is not None and key in by_arch:
            return by_arch[key]
        return by_arch.get(ContainerfileArch.NO_ARCH)


class MachineOSConfigStatus(K8sModel):
    conditions: tuple[Condition, ...] = ()
    observed_generation: int | None = Field(default=None, ge=0)
    current_image_pull_spec: ImageDigestFormat | None = None
    machine_os_build: ObjectReference | None = Field(default=None, alias="machineOSBuild")

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        return _unique_condition_types(value)

    def get_condition(self, type_: str) -> Condition | None:
        return _find_condition(self.conditions, type_)


class MachineOSConfig(_Kind):
    KIND: ClassVar[str] = "MachineOSConfig"
    PLURAL: ClassVar[str] = MACHINE_OS_CONFIGS
    IN_EXTENSION_GROUP: ClassVar[bool] = True

    spec: MachineOSConfigSpec
    status: MachineOSConfigStatus = Field(default_factory=MachineOSConfigStatus)

    @model_validator(mode="after")
    def _name_matches_pool(self) -> Self:
        pool = self.spec.machine_config_pool.name
        if self.metadata.name != pool:
            raise _invalid(
                f"MachineOSConfig name {self.metadata.name!r} must match "
                f"spec.machineConfigPool.name {pool!r}: there can only be one MachineOSConfig "
                "per MachineConfigPool, named after the pool"
            )
        return self


# --------------------------------------------------------------------------------------
# MachineOSBuild
# --------------------------------------------------------------------------------------


class MachineConfigReference(K8sModel):
    name: _RenderedConfigName


class MachineOSConfigReference(K8sModel):
    name: _Subdomain


class MachineOSBuildSpec(K8sModel):
    machine_config: MachineConfigReference
    machine_os_config: MachineOSConfigReference = Field(alias="machineOSConfig")
    rendered_image_push_spec: ImageTagFormat


class MachineOSBuilderReference(K8sModel):
    image_builder_type: _ImageBuilderType
    job: ObjectReference | None = None

    @model_validator(mode="after")
    def _job_union(self) -> Self:
        if self.image_builder_type is MachineOSImageBuilderType.JOB and self.job is None:
            raise _invalid("job is required when imageBuilderType is Job, and forbidden otherwise")
        return self


class MachineOSBuildStatus(K8sModel):
    conditions: tuple[Condition, ...] = ()
    builder: MachineOSBuilderReference | None = None
    related_objects: tuple[ObjectReference, ...] = ()
    build_start: Time | None = None
    build_end: Time | None = None
    digested_image_push_spec: ImageDigestFormat | None = None

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        if len(value) > MACHINE_OS_BUILD_MAX_CONDITIONS:
            raise _invalid(
                f"has {len(value)} conditions; the maximum is {MACHINE_OS_BUILD_MAX_CONDITIONS}"
            )
        return _unique_condition_types(value)

    @field_validator("related_objects")
    @classmethod
    def _related_objects(cls, value: tuple[ObjectReference, ...]) -> tuple[ObjectReference, ...]:
        if len(value) > MACHINE_OS_BUILD_MAX_RELATED_OBJECTS:
            raise _invalid(
                f"has {len(value)} entries; the maximum is {MACHINE_OS_BUILD_MAX_RELATED_OBJECTS}"
            )
        seen: set[tuple[str, str]] = set()
        for ref in value:  # a list-map keyed by (name, resource)
            if (ref.name, ref.resource) in seen:
                raise _invalid(f"{ref.resource}/{ref.name} appears more than once")
            seen.add((ref.name, ref.resource))
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.build_end is not None and (
            self.build_start is None or not self.build_start < self.build_end
        ):
            raise _invalid("buildEnd must be after buildStart")
        return self

    def get_condition(self, type_: BuildProgress | str) -> Condition | None:
        return _find_condition(self.conditions, str(type_))

    def is_condition_true(self, type_: BuildProgress | str) -> bool:
        condition = self.get_condition(type_)
        return condition is not None and condition.is_true

    @property
    def state(self) -> BuildProgress | None:
        """The condition type that is True (a build has exactly one), if any."""
        return next((p for p in BuildProgress if self.is_condition_true(p)), None)

    @property
    def terminal(self) -> BuildProgress | None:
        """Succeeded, Failed or Interrupted, when one is True: upstream then freezes the
        conditions. The one answer to "is this build finished?"."""
        state = self.state
        return state if state is not None and state.terminal else None


class MachineOSBuild(_Kind):
    KIND: ClassVar[str] = "MachineOSBuild"
    PLURAL: ClassVar[str] = MACHINE_OS_BUILDS
    IN_EXTENSION_GROUP: ClassVar[bool] = True

    spec: MachineOSBuildSpec
    status: MachineOSBuildStatus = Field(default_factory=MachineOSBuildStatus)


# --------------------------------------------------------------------------------------
# MachineConfigPool and MachineConfig
# --------------------------------------------------------------------------------------


class MachineConfigPoolStatusConfiguration(K8sModel):
    """The pool's (target or current) rendered MachineConfig; `name` is all we use."""

    name: str | None = None


class MachineConfigPoolCondition(K8sModel):
    """MachineConfigPool conditions are their own type upstream (all fields optional)."""

    type: str
    status: ConditionStatus | None = None
    last_transition_time: Time | None = None
    reason: str = ""
    message: str = ""

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE


class MachineConfigPoolSpec(K8sModel):
    node_selector: LabelSelector | None = None
    machine_config_selector: LabelSelector | None = None
    configuration: MachineConfigPoolStatusConfiguration = Field(
        default_factory=MachineConfigPoolStatusConfiguration
    )
    paused: bool = False


class MachineConfigPoolStatus(K8sModel):
    observed_generation: int | None = None
    configuration: MachineConfigPoolStatusConfiguration = Field(
        default_factory=MachineConfigPoolStatusConfiguration
    )
    conditions: tuple[MachineConfigPoolCondition, ...] = ()

    def get_condition(
        self, type_: MachineConfigPoolConditionType | str
    ) -> MachineConfigPoolCondition | None:
        found = None
        for condition in self.conditions:
            if condition.type == str(type_):
                found = condition
        return found


class MachineConfigPool(_Kind):
    KIND: ClassVar[str] = "MachineConfigPool"
    PLURAL: ClassVar[str] = MACHINE_CONFIG_POOLS

    spec: MachineConfigPoolSpec = Field(default_factory=MachineConfigPoolSpec)
    status: MachineConfigPoolStatus = Field(default_factory=MachineConfigPoolStatus)

    @property
    def rendered_config_name(self) -> str | None:
        """The rendered MachineConfig the pool is moving to, else the one it is on."""
        return self.spec.configuration.name or self.status.configuration.name or None


class MachineConfigSpec(K8sModel):
    os_image_url: str = Field(default="", alias="osImageURL")
    base_os_extensions_container_image: str = Field(
        default="", alias="baseOSExtensionsContainerImage"
    )


class MachineConfig(_Kind):
    KIND: ClassVar[str] = "MachineConfig"
    PLURAL: ClassVar[str] = MACHINE_CONFIGS

    spec: MachineConfigSpec = Field(default_factory=MachineConfigSpec)
