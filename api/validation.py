"""Format checks: Python equivalents of the upstream CRDs' OpenAPI limits and CEL rules.

Raise pydantic errors whose messages a cluster admin can act on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from api.enums import MachineOSImageBuilderType

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
