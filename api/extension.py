"""The extension's own annotations (domain mosb-controller.io) and their codecs.

The upstream CRD schemas are fixed on real clusters and prune undeclared fields, so the
per-architecture detail this controller adds lives in annotations:

- ARCHITECTURES_ANNOTATION on a MachineConfigPool: the pool's architectures as sorted,
  comma-separated `kubernetes.io/arch` values, e.g. "amd64,arm64" ("" for none).
- ARCH_BUILDS_ANNOTATION on a MachineOSBuild: a JSON object arch -> ArchBuildRecord.
- ARCH_DIGESTS_ANNOTATION on a MachineOSBuild: a JSON object arch -> "sha256:<64 hex>".
- RETRY_FAILED_ANNOTATION on a MachineOSConfig: retry only the architectures that failed.

Encoding is deterministic (sorted keys, compact separators, UTC times) so that a record
that did not change encodes to the same string and the annotation is not rewritten.
Decoding rejects malformed content with an AnnotationError naming the annotation and
the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, ValidationError, model_validator

from api.base import K8sModel, describe_validation_error
from api.names import (
    ARCH_BUILDS_ANNOTATION,
    ARCH_DIGESTS_ANNOTATION,
    ARCHITECTURES_ANNOTATION,
)
from api.validation import ImageDigestFormat, Time, _invalid, _Subdomain

_ARCH_RE = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?", re.ASCII)
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)


class AnnotationError(ValueError):
    """An annotation's value is malformed. `str()` names the annotation and the problem."""

    def __init__(self, annotation: str, problem: str) -> None:
        super().__init__(f"annotation {annotation} is malformed: {problem}")
        self.annotation = annotation
        self.problem = problem


def validate_arch(value: str) -> str:
    """A `kubernetes.io/arch` label value as this controller records it (e.g. "amd64")."""
    if not value:
        raise _invalid("an architecture must not be empty")
    if len(value) > 63 or not _ARCH_RE.fullmatch(value):
        raise _invalid(
            f"{value!r} is not an architecture: expected a lowercase kubernetes.io/arch label "
            "value such as amd64, arm64, ppc64le or s390x"
        )
    return value


def validate_digest(value: str) -> str:
    """An image digest, "sha256:" followed by 64 lowercase hex characters."""
    if not _DIGEST_RE.fullmatch(value):
        raise _invalid(
            f"{value!r} is not an image digest: expected 'sha256:' followed by 64 lowercase "
            "hexadecimal characters"
        )
    return value


Arch = Annotated[str, AfterValidator(validate_arch)]
"""A validated `kubernetes.io/arch` value."""
Digest = Annotated[str, AfterValidator(validate_digest)]
"""A validated "sha256:<64 hex>" image digest."""


class ArchBuildPhase(StrEnum):
    PENDING = "Pending"  # not started yet
    WAITING = "Waiting"  # no Ready, schedulable node of this architecture to build on
    BUILDING = "Building"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    REUSED = "Reused"  # the image of an earlier build with the same key is reused

    @property
    def is_finished(self) -> bool:
        return self in _FINISHED

    @property
    def has_image(self) -> bool:
        """Succeeded or Reused: the record carries the architecture's image digest."""
        return self in (ArchBuildPhase.SUCCEEDED, ArchBuildPhase.REUSED)


_FINISHED = frozenset(
    {
        ArchBuildPhase.SUCCEEDED,
        ArchBuildPhase.FAILED,
        ArchBuildPhase.INTERRUPTED,
        ArchBuildPhase.REUSED,
    }
)


class ArchBuildRecord(K8sModel):
    """One architecture's build within a MachineOSBuild (JSON keys in camelCase)."""

    arch: Arch
    key: str = Field(min_length=1)
    job: _Subdomain | None = None
    phase: ArchBuildPhase
    digest: Digest | None = None
    image: ImageDigestFormat | None = None
    reused_from: _Subdomain | None = None
    start: Time | None = None
    end: Time | None = None
    reason: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        where = f"{self.arch} build record"
        if self.phase.has_image and self.digest is None:
            raise _invalid(f"{where}: phase {self.phase.value} needs the image digest")
        if self.phase is ArchBuildPhase.REUSED and self.reused_from is None:
            raise _invalid(f"{where}: phase Reused needs reusedFrom (the earlier MachineOSBuild)")
        if self.reused_from is not None and self.phase is not ArchBuildPhase.REUSED:
            raise _invalid(f"{where}: reusedFrom is only allowed in phase Reused")
        if self.image is not None:
            if self.digest is None:
                raise _invalid(f"{where}: image is set but digest is not")
            if not self.image.endswith("@" + self.digest):
                raise _invalid(f"{where}: image {self.image!r} is not by digest {self.digest}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise _invalid(f"{where}: end {self.end.isoformat()} is before start")
        return self


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _loads_object(annotation: str, value: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in pairs:
            if key in result:
                raise AnnotationError(annotation, f"key {key!r} appears more than once")
            result[key] = item
        return result

    if not value.strip():
        raise AnnotationError(annotation, "the value is empty; expected a JSON object")
    try:
        data = json.loads(value, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise AnnotationError(annotation, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AnnotationError(
            annotation,
            f"expected a JSON object keyed by architecture, got {type(data).__name__}",
        )
    return data


def _check_arch_key(annotation: str, key: str) -> None:
    try:
        validate_arch(key)
    except ValueError as exc:
        raise AnnotationError(annotation, str(exc)) from None


def encode_arch_builds(records: Mapping[str, ArchBuildRecord]) -> str:
    """The ARCH_BUILDS_ANNOTATION value for records keyed by architecture (deterministic)."""
    for arch, record in records.items():
        if arch != record.arch:
            raise ValueError(f"arch build record for {record.arch!r} is filed under {arch!r}")
    return _dumps({arch: record.to_k8s() for arch, record in records.items()})


def decode_arch_builds(value: str | None) -> dict[str, ArchBuildRecord]:
    """Parse ARCH_BUILDS_ANNOTATION; None (annotation absent) gives {}.

    An entry may leave out "arch" (it is the entry's key); if present it must match.
    Raises AnnotationError for malformed content.
    """
    if value is None:
        return {}
    annotation = ARCH_BUILDS_ANNOTATION
    records: dict[str, ArchBuildRecord] = {}
    for arch, entry in sorted(_loads_object(annotation, value).items()):
        _check_arch_key(annotation, arch)
        if not isinstance(entry, dict):
            raise AnnotationError(
                annotation, f"entry {arch!r}: expected a JSON object, got {type(entry).__name__}"
            )
        if entry.setdefault("arch", arch) != arch:
            raise AnnotationError(
                annotation, f"entry {arch!r} holds the record of arch {entry['arch']!r}"
            )
        try:
            records[arch] = ArchBuildRecord.model_validate(entry)
        except ValidationError as exc:
            problems = describe_validation_error(exc).replace("\n", "; ")
            raise AnnotationError(annotation, f"entry {arch!r}: {problems}") from None
    return records


def encode_arch_digests(digests: Mapping[str, str]) -> str:
    """The ARCH_DIGESTS_ANNOTATION value: {"amd64": "sha256:...", ...} (deterministic)."""
    for arch, digest in digests.items():
        validate_arch(arch)
        validate_digest(digest)
    return _dumps(dict(digests))


def decode_arch_digests(value: str | None) -> dict[str, str]:
    """Parse ARCH_DIGESTS_ANNOTATION; None gives {}. Raises AnnotationError if malformed."""
    if value is None:
        return {}
    annotation = ARCH_DIGESTS_ANNOTATION
    digests: dict[str, str] = {}
    for arch, digest in sorted(_loads_object(annotation, value).items()):
        _check_arch_key(annotation, arch)
        if not isinstance(digest, str):
            raise AnnotationError(
                annotation, f"entry {arch!r}: expected a digest string, got {type(digest).__name__}"
            )
        try:
            digests[arch] = validate_digest(digest)
        except ValueError as exc:
            raise AnnotationError(annotation, f"entry {arch!r}: {exc}") from None
    return digests


def encode_architectures(arches: Iterable[str]) -> str:
    """The ARCHITECTURES_ANNOTATION value: sorted, de-duplicated, comma-separated."""
    unique = {validate_arch(arch) for arch in arches}
    return ",".join(sorted(unique))


def decode_architectures(value: str | None) -> tuple[str, ...]:
    """Parse ARCHITECTURES_ANNOTATION into a sorted tuple; None or "" gives ().

    Raises AnnotationError for empty items, invalid values or duplicates.
    """
    if not value:
        return ()
    annotation = ARCHITECTURES_ANNOTATION
    arches: set[str] = set()
    for item in value.split(","):
        arch = item.strip()
        if not arch:
            raise AnnotationError(annotation, f"{value!r} has an empty item")
        _check_arch_key(annotation, arch)
        if arch in arches:
            raise AnnotationError(annotation, f"{arch!r} appears more than once in {value!r}")
        arches.add(arch)
    return tuple(sorted(arches))
