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

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# --------------------------------------------------------------------------------------
# Group, version, upstream annotation and label keys
# --------------------------------------------------------------------------------------

GROUP = "machineconfiguration.openshift.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

# On a MachineOSConfig: name of its current MachineOSBuild (MCO build/constants).
CURRENT_MACHINE_OS_BUILD_ANNOTATION = "machineconfiguration.openshift.io/current-machine-os-build"
# On a MachineOSConfig: the admin asks for a fresh build; removed when it is done.
REBUILD_ANNOTATION = "machineconfiguration.openshift.io/rebuild"
# Labels on a MachineOSBuild (MCO build/utils.GetMachineOSBuildLabels) and on build objects.
TARGET_MACHINE_CONFIG_POOL_LABEL = "machineconfiguration.openshift.io/target-machine-config-pool"
RENDERED_MACHINE_CONFIG_LABEL = "machineconfiguration.openshift.io/rendered-machine-config"
MACHINE_OS_CONFIG_LABEL = "machineconfiguration.openshift.io/machine-os-config"
# Labels upstream puts on the build Job and its ephemeral objects.
MACHINE_OS_BUILD_LABEL = "machineconfiguration.openshift.io/machine-os-build"
ON_CLUSTER_LAYERING_LABEL = "machineconfiguration.openshift.io/on-cluster-layering"

# --------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------


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

    Upstream reuses MachineConfigPoolConditionType values as reasons: Building (False,
    build started), BuildSuccess (False), BuildFailed (True), BuildPending (False, set by
    the node controller while a MachineOSConfig waits for its MachineOSBuild).
    """

    BUILDING = "Building"
    BUILD_SUCCESS = "BuildSuccess"
    BUILD_FAILED = "BuildFailed"
    BUILD_PENDING = "BuildPending"


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


# --------------------------------------------------------------------------------------
# Format checks (equivalents of the CRDs' CEL rules)
# --------------------------------------------------------------------------------------

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*", re.ASCII)
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL, re.ASCII)
_DNS1035_LABEL_RE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?", re.ASCII)

# The CEL rules of upstream's ImageTagFormat / ImageDigestFormat, written for Python's re:
# CEL's matches() is RE2 without the multiline flag, so `$` is the end of the text (\Z
# here, since Python's `$` would also match before a final newline); \d is ASCII-only;
# `[a-zA-Z0-9-_]` (a literal '-' after a range in RE2) is written `[a-zA-Z0-9_-]`.
_TAG_SPEC_RE = re.compile(
    r"^([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+(:[0-9]{2,5})?(/[a-zA-Z0-9_-]{1,61})*"
    r"/[a-zA-Z0-9_.-]+:[a-zA-Z0-9._-]+\Z",
    re.ASCII,
)
_TAG_SPEC_SVC_RE = re.compile(r"^[^.]+\.[^.]+\.svc:\d+/[^/]+/[^/]+:[^/]+\Z", re.ASCII)
_DIGEST_SUFFIX_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z", re.ASCII)
_DIGEST_NAME_RE = re.compile(
    r"^([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+(:[0-9]{2,5})?/([a-zA-Z0-9_-]{0,61}/)?[a-zA-Z0-9_.-]*?\Z",
    re.ASCII,
)
_HOST_RE = re.compile(r"([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+", re.ASCII)
_PORT_RE = re.compile(r"[0-9]{2,5}", re.ASCII)
_NAMESPACE_RE = re.compile(r"[a-zA-Z0-9_-]{1,61}", re.ASCII)
_IMAGE_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+", re.ASCII)
_TAG_RE = re.compile(r"[a-zA-Z0-9._-]+", re.ASCII)

# metav1.Condition's OpenAPI patterns.
_CONDITION_TYPE_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])\Z",
    re.ASCII,
)
_CONDITION_REASON_RE = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?\Z", re.ASCII)

IMAGE_SPEC_MAX_LENGTH = 447
CONTAINERFILE_MAX_ITEMS = 4
CONTAINERFILE_CONTENT_MAX_LENGTH = 4096
MACHINE_OS_BUILD_MAX_CONDITIONS = 8
MACHINE_OS_BUILD_MAX_RELATED_OBJECTS = 10

_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_TAG_FORMAT_MESSAGE = (
    "the OCI Image name should follow the host[:port][/namespace]/name format, resembling a "
    "valid URL without the scheme. Or it must be a valid .svc followed by a port, repository, "
    "image name, and tag"
)
_DIGEST_SUFFIX_MESSAGE = (
    "the OCI Image reference must end with a valid '@sha256:<digest>' suffix, where "
    "'<digest>' is 64 characters long"
)
_DIGEST_NAME_MESSAGE = (
    "the OCI Image name should follow the host[:port][/namespace]/name format, resembling a "
    "valid URL without the scheme"
)


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly `message` (no 'Value error,' prefix).

    Without a context pydantic does not format the template, so braces in user input are safe.
    """
    return PydanticCustomError("mosb_invalid", message)


def _check_subdomain(value: str, *, min_length: int = 1) -> str:
    if len(value) < min_length:
        if not value:
            raise _invalid("must not be empty")
        raise _invalid(f"{value!r} is too short: at least {min_length} characters are required")
    if len(value) > 253:
        raise _invalid(f"is {len(value)} characters long; the maximum is 253")
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        raise _invalid(f"{value!r} is not valid: {_SUBDOMAIN_MESSAGE}")
    return value


def _check_dns1123_label(value: str) -> str:
    if not value:
        raise _invalid("must not be empty")
    if len(value) > 63:
        raise _invalid(f"is {len(value)} characters long; the maximum is 63")
    if not _DNS1123_LABEL_RE.fullmatch(value):
        raise _invalid(
            f"{value!r} is not valid: the value must consist of only lowercase alphanumeric "
            "characters and hyphens, and start and end with an alphanumeric character"
        )
    return value


def _check_dns1035_label(value: str) -> str:
    if not value:
        raise _invalid("must not be empty")
    if len(value) > 63:
        raise _invalid(f"is {len(value)} characters long; the maximum is 63")
    if not _DNS1035_LABEL_RE.fullmatch(value):
        raise _invalid(
            f"{value!r} is not valid: a DNS-1035 label must consist of lower case alphanumeric "
            "characters or '-', start with an alphabetic character, and end with an "
            "alphanumeric character"
        )
    return value


def _check_length(value: str) -> None:
    if not value:
        raise _invalid("must not be empty")
    if len(value) > IMAGE_SPEC_MAX_LENGTH:
        raise _invalid(f"is {len(value)} characters long; the maximum is {IMAGE_SPEC_MAX_LENGTH}")


_WHITESPACE_PROBLEM = (
    "it contains whitespace or a line break (a YAML '|' block adds a trailing newline)"
)


def _diagnose_repository(repository: str, *, one_namespace: bool) -> str | None:
    """What is wrong with `host[:port][/namespace...]/name` (None if nothing specific)."""
    if "://" in repository:
        scheme = repository.split("://", 1)[0]
        return f"remove the scheme {scheme + '://'!r}: the value starts with the registry host"
    if any(ch.isspace() for ch in repository):
        return _WHITESPACE_PROBLEM
    if "/" not in repository:
        return (
            "it has no repository path after the registry host: expected "
            "host[:port][/namespace]/name, e.g. quay.io/myorg/os-image"
        )
    hostport, path = repository.split("/", 1)
    host, _, port = hostport.partition(":")
    if not _HOST_RE.fullmatch(host):
        return (
            f"the registry host {host!r} must be a name with at least one dot, such as "
            "quay.io, registry.example.com or 127.0.0.1 ('localhost' and bare service names "
            "are not accepted)"
        )
    if ":" in hostport and not _PORT_RE.fullmatch(port):
        return f"the port {port!r} must be 2 to 5 digits"
    parts = path.split("/")
    namespaces, name = parts[:-1], parts[-1]
    if one_namespace and len(namespaces) > 1:
        return (
            f"the repository path {path!r} has {len(namespaces)} namespace levels; at most one "
            "(host[:port]/namespace/name) is accepted in a digested pull spec"
        )
    for namespace in namespaces:
        if not _NAMESPACE_RE.fullmatch(namespace):
            return (
                f"the namespace {namespace!r} must be 1 to 61 characters of letters, digits, "
                "'-' and '_'"
            )
    if not name:
        return "the image name after the last '/' is empty"
    if not _IMAGE_NAME_RE.fullmatch(name):
        return f"the image name {name!r} may only contain letters, digits, '-', '_' and '.'"
    return None


def _diagnose_tag_spec(value: str) -> str | None:
    if any(ch.isspace() for ch in value):
        return _WHITESPACE_PROBLEM
    if "@" in value:
        return (
            "it contains a digest ('@'); a push spec names a tag (.../name:<tag>), which the "
            "controller replaces with the MachineOSBuild name"
        )
    last = value.rsplit("/", 1)[-1] if "/" in value else ""
    if "/" in value and ":" not in last:
        return "it has no tag: end it with :<tag>, e.g. :latest"
    repository, _, tag = value.rpartition(":") if "/" in value else (value, "", "")
    problem = _diagnose_repository(repository, one_namespace=False)
    if problem is not None:
        return problem
    if not _TAG_RE.fullmatch(tag):
        return f"the tag {tag!r} may only contain letters, digits, '.', '_' and '-'"
    return None


def validate_image_tag_format(value: str) -> str:
    """Upstream ImageTagFormat: `host[:port][/namespace]/name:<tag>`, 1-447 characters.

    Raises a pydantic-core error (a ValueError) whose message says what is wrong.
    """
    _check_length(value)
    if _TAG_SPEC_RE.match(value) or _TAG_SPEC_SVC_RE.match(value):
        return value
    problem = _diagnose_tag_spec(value)
    if problem is None:
        raise _invalid(f"{value!r} is not a valid image push spec: {_TAG_FORMAT_MESSAGE}")
    raise _invalid(
        f"{value!r} is not a valid image push spec: {problem}. Expected "
        "host[:port][/namespace]/name:<tag> or svc_name.namespace.svc:port/repository/name:<tag>"
    )


def validate_image_digest_format(value: str) -> str:
    """Upstream ImageDigestFormat: `host[:port][/namespace]/name@sha256:<64 hex>`, 1-447 chars."""
    _check_length(value)
    parts = value.split("@")
    if len(parts) != 2 or not _DIGEST_SUFFIX_RE.match(parts[1]):
        if any(ch.isspace() for ch in value):
            problem = _WHITESPACE_PROBLEM
        elif len(parts) == 1:
            problem = "it has no '@sha256:<digest>' suffix"
        elif len(parts) > 2:
            problem = "it contains more than one '@'"
        else:
            problem = f"the digest {parts[1]!r} is not 'sha256:' followed by 64 lowercase hex"
        raise _invalid(
            f"{value!r} is not a valid digested pull spec: {problem}; {_DIGEST_SUFFIX_MESSAGE}"
        )
    if not _DIGEST_NAME_RE.match(parts[0]):
        name_problem = _diagnose_repository(parts[0], one_namespace=True)
        if name_problem is None:
            raise _invalid(f"{value!r} is not a valid digested pull spec: {_DIGEST_NAME_MESSAGE}")
        raise _invalid(
            f"{value!r} is not a valid digested pull spec: {name_problem}. Expected "
            "host[:port][/namespace]/name@sha256:<digest>"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


ImageTagFormat = Annotated[str, AfterValidator(validate_image_tag_format)]
"""A push spec by tag, validated like upstream's ImageTagFormat."""
ImageDigestFormat = Annotated[str, AfterValidator(validate_image_digest_format)]
"""A pull spec by digest, validated like upstream's ImageDigestFormat."""
Time = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp, normalised to UTC (serialised as RFC 3339 with 'Z')."""

_Subdomain = Annotated[str, AfterValidator(_check_subdomain)]
_DNS1123Label = Annotated[str, AfterValidator(_check_dns1123_label)]
_DNS1035Label = Annotated[str, AfterValidator(_check_dns1035_label)]


def _check_rendered_config_name(value: str) -> str:
    return _check_subdomain(value, min_length=10)


_RenderedConfigName = Annotated[str, AfterValidator(_check_rendered_config_name)]


def _only_job(value: Any) -> Any:
    if value not in {t.value for t in MachineOSImageBuilderType}:
        raise _invalid(
            f"imageBuilderType {value!r} is not supported: the only image builder type is 'Job'"
        )
    return value


_ImageBuilderType = Annotated[MachineOSImageBuilderType, BeforeValidator(_only_job)]


# --------------------------------------------------------------------------------------
# Base model
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Mappings -> dicts and lists/tuples -> lists, recursively (kopf bodies are Mappings)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class K8sModel(BaseModel):
    """Base of every model here: camelCase JSON, unknown fields ignored, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        use_enum_values=False,
    )

    @model_serializer(mode="wrap")
    def _omit_defaulted_empties(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        for name, field in type(self).model_fields.items():
            if name in self.model_fields_set:
                continue
            key = (field.serialization_alias or field.alias or name) if info.by_alias else name
            if key in data and isinstance(data[key], list | tuple | dict) and not data[key]:
                del data[key]
        return data

    @classmethod
    def from_k8s(cls, obj: Mapping[str, Any]) -> Self:
        """Parse (and validate) a Kubernetes object or sub-object given as a Mapping."""
        return cls.model_validate(_plain(obj))

    def to_k8s(self) -> dict[str, Any]:
        """JSON-ready dict with the upstream camelCase keys; None fields are left out."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert isinstance(data, dict)
        return data


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, `path.to.field: message`, for a person to read."""
    lines = []
    for item in error.errors(include_url=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        lines.append(f"{path or error.title}: {item['msg']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Shared pieces: metadata, conditions, references, label selectors
# --------------------------------------------------------------------------------------


class OwnerReference(K8sModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(K8sModel):
    """The part of metav1.ObjectMeta the controller uses."""

    name: str
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()


class Condition(K8sModel):
    """metav1.Condition (used by MachineOSConfig and MachineOSBuild status)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    last_transition_time: Time
    observed_generation: int | None = Field(default=None, ge=0)

    @field_validator("type")
    @classmethod
    def _type_format(cls, value: str) -> str:
        if len(value) > 316 or not _CONDITION_TYPE_RE.match(value):
            raise _invalid(
                f"{value!r} is not a valid condition type: use CamelCase or "
                "foo.example.com/CamelCase, at most 316 characters"
            )
        return value

    @field_validator("reason")
    @classmethod
    def _reason_format(cls, value: str) -> str:
        if not value:
            raise _invalid("a condition reason must not be empty")
        if len(value) > 1024 or not _CONDITION_REASON_RE.match(value):
            raise _invalid(
                f"{value!r} is not a valid condition reason: use a CamelCase identifier "
                "(letters, digits, '_', ',' and ':', starting with a letter), at most 1024 "
                "characters"
            )
        return value

    @field_validator("message")
    @classmethod
    def _message_length(cls, value: str) -> str:
        if len(value) > 32768:
            raise _invalid(f"a condition message is {len(value)} characters; the maximum is 32768")
        return value

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE


def _unique_condition_types(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    seen: set[str] = set()
    for condition in conditions:
        if condition.type in seen:
            raise _invalid(f"condition type {condition.type!r} appears more than once")
        seen.add(condition.type)
    return conditions


def _find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    found = None
    for condition in conditions:  # the last match wins, like the MCO's helpers
        if condition.type == type_:
            found = condition
    return found


class ObjectReference(K8sModel):
    """machineconfiguration/v1 ObjectReference: group, resource, optional namespace, name."""

    group: _Subdomain
    resource: _DNS1035Label
    namespace: _DNS1123Label | None = None
    name: _Subdomain


class LabelSelectorRequirement(K8sModel):
    key: str
    operator: LabelSelectorOperator
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_match_operator(self) -> Self:
        if self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN):
            if not self.values:
                raise _invalid(
                    f"label selector requirement on {self.key!r}: operator {self.operator.value} "
                    "needs at least one value"
                )
        elif self.values:
            raise _invalid(
                f"label selector requirement on {self.key!r}: operator {self.operator.value} "
                "takes no values"
            )
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is LabelSelectorOperator.IN:
            return present and labels[self.key] in self.values
        if self.operator is LabelSelectorOperator.NOT_IN:
            return not present or labels[self.key] not in self.values
        if self.operator is LabelSelectorOperator.EXISTS:
            return present
        return not present


class LabelSelector(K8sModel):
    """metav1.LabelSelector. An empty selector selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )


class _Kind(K8sModel):
    """A top-level object: apiVersion and kind are checked on input and always written."""

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    API_VERSION: ClassVar[str] = API_VERSION

    metadata: ObjectMeta

    @model_validator(mode="before")
    @classmethod
    def _check_type_meta(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            api_version, kind = data.get("apiVersion"), data.get("kind")
            if kind is not None and kind != cls.KIND:
                raise _invalid(f"expected kind {cls.KIND}, got {kind!r}")
            if api_version is not None and api_version != cls.API_VERSION:
                raise _invalid(
                    f"expected apiVersion {cls.API_VERSION} for {cls.KIND}, got {api_version!r}"
                )
        return data

    @property
    def name(self) -> str:
        return self.metadata.name

    def to_k8s(self) -> dict[str, Any]:
        return {"apiVersion": self.API_VERSION, "kind": self.KIND, **super().to_k8s()}


# --------------------------------------------------------------------------------------
# MachineOSConfig
# --------------------------------------------------------------------------------------


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
    PLURAL: ClassVar[str] = "machineosconfigs"

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

    @property
    def current_build_name(self) -> str | None:
        """The current-machine-os-build annotation, if set."""
        return self.metadata.annotations.get(CURRENT_MACHINE_OS_BUILD_ANNOTATION)

    @property
    def rebuild_requested(self) -> bool:
        return REBUILD_ANNOTATION in self.metadata.annotations


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
    def is_finished(self) -> bool:
        """Succeeded, Failed or Interrupted is True: upstream then freezes the conditions."""
        return any(
            self.is_condition_true(t)
            for t in (BuildProgress.SUCCEEDED, BuildProgress.FAILED, BuildProgress.INTERRUPTED)
        )


class MachineOSBuild(_Kind):
    KIND: ClassVar[str] = "MachineOSBuild"
    PLURAL: ClassVar[str] = "machineosbuilds"

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
    PLURAL: ClassVar[str] = "machineconfigpools"

    spec: MachineConfigPoolSpec = Field(default_factory=MachineConfigPoolSpec)
    status: MachineConfigPoolStatus = Field(default_factory=MachineConfigPoolStatus)

    def selects(self, node_labels: Mapping[str, str]) -> bool:
        """Whether spec.nodeSelector selects a node with these labels.

        As upstream (metav1.LabelSelectorAsSelector): no nodeSelector selects nothing, an
        empty one selects every node.
        """
        return self.spec.node_selector is not None and self.spec.node_selector.matches(node_labels)


class MachineConfigSpec(K8sModel):
    os_image_url: str = Field(default="", alias="osImageURL")
    base_os_extensions_container_image: str = Field(
        default="", alias="baseOSExtensionsContainerImage"
    )


class MachineConfig(_Kind):
    KIND: ClassVar[str] = "MachineConfig"
    PLURAL: ClassVar[str] = "machineconfigs"

    spec: MachineConfigSpec = Field(default_factory=MachineConfigSpec)


__all__ = [
    "API_VERSION",
    "CONTAINERFILE_CONTENT_MAX_LENGTH",
    "CONTAINERFILE_MAX_ITEMS",
    "CURRENT_MACHINE_OS_BUILD_ANNOTATION",
    "GROUP",
    "IMAGE_SPEC_MAX_LENGTH",
    "MACHINE_OS_BUILD_LABEL",
    "MACHINE_OS_BUILD_MAX_CONDITIONS",
    "MACHINE_OS_BUILD_MAX_RELATED_OBJECTS",
    "MACHINE_OS_CONFIG_LABEL",
    "ON_CLUSTER_LAYERING_LABEL",
    "REBUILD_ANNOTATION",
    "RENDERED_MACHINE_CONFIG_LABEL",
    "TARGET_MACHINE_CONFIG_POOL_LABEL",
    "VERSION",
    "BuildProgress",
    "Condition",
    "ConditionStatus",
    "ContainerfileArch",
    "ImageBuildDegradedReason",
    "ImageDigestFormat",
    "ImageSecretObjectReference",
    "ImageTagFormat",
    "K8sModel",
    "KubeArch",
    "LabelSelector",
    "LabelSelectorOperator",
    "LabelSelectorRequirement",
    "MachineConfig",
    "MachineConfigPool",
    "MachineConfigPoolCondition",
    "MachineConfigPoolConditionType",
    "MachineConfigPoolReference",
    "MachineConfigPoolSpec",
    "MachineConfigPoolStatus",
    "MachineConfigPoolStatusConfiguration",
    "MachineConfigReference",
    "MachineConfigSpec",
    "MachineOSBuild",
    "MachineOSBuildReason",
    "MachineOSBuildSpec",
    "MachineOSBuildStatus",
    "MachineOSBuilderReference",
    "MachineOSConfig",
    "MachineOSConfigReference",
    "MachineOSConfigSpec",
    "MachineOSConfigStatus",
    "MachineOSContainerfile",
    "MachineOSImageBuilder",
    "MachineOSImageBuilderType",
    "ObjectMeta",
    "ObjectReference",
    "OwnerReference",
    "Time",
    "describe_validation_error",
    "validate_image_digest_format",
    "validate_image_tag_format",
]
