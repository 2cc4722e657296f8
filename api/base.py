"""The base of every model (camelCase JSON, frozen, `from_k8s`/`to_k8s`) and the shared
pieces: metadata, conditions, references, label selectors, the top-level kind.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
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

from api.enums import ConditionStatus, LabelSelectorOperator
from api.names import API_VERSION, EXTENSION_API_VERSION
from api.validation import (
    _CONDITION_REASON_RE,
    _CONDITION_TYPE_RE,
    Time,
    _DNS1035Label,
    _DNS1123Label,
    _invalid,
    _Subdomain,
)


def _plain(value: Any) -> Any:
    """Mappings -> dicts and lists/tuples -> lists, recursively (kopf bodies are Mappings)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@functools.cache
def _json_keys(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """Each field's name and JSON key, per model class: this serializer runs for every
    nested model, and reading `model_fields` (a deprecation-guarding descriptor in
    pydantic 2.11+) each time was half the cost of `to_k8s` in the operator's passes."""
    return tuple(
        (name, field.serialization_alias or field.alias or name)
        for name, field in model.model_fields.items()
    )


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
        unset = self.model_fields_set
        for name, alias in _json_keys(type(self)):
            if name in unset:
                continue
            key = alias if info.by_alias else name
            value = data.get(key)
            if isinstance(value, list | tuple | dict) and not value:
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


class LabelSelector(K8sModel):
    """metav1.LabelSelector. An empty selector selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


class _Kind(K8sModel):
    """A top-level object: apiVersion and kind are checked on input and always written."""

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    API_VERSION: ClassVar[str] = API_VERSION
    # The kinds served in both groups (alongside-mco mode) accept either on input.
    IN_EXTENSION_GROUP: ClassVar[bool] = False

    metadata: ObjectMeta

    @model_validator(mode="before")
    @classmethod
    def _check_type_meta(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            api_version, kind = data.get("apiVersion"), data.get("kind")
            if kind is not None and kind != cls.KIND:
                raise _invalid(f"expected kind {cls.KIND}, got {kind!r}")
            accepted = {cls.API_VERSION}
            if cls.IN_EXTENSION_GROUP:
                accepted.add(EXTENSION_API_VERSION)
            if api_version is not None and api_version not in accepted:
                raise _invalid(
                    f"expected apiVersion {cls.API_VERSION} for {cls.KIND}, got {api_version!r}"
                )
        return data

    @property
    def name(self) -> str:
        return self.metadata.name

    def to_k8s(self) -> dict[str, Any]:
        return {"apiVersion": self.API_VERSION, "kind": self.KIND, **super().to_k8s()}
