"""The registry credentials a build runs with: found, converted to one form, copied. Pure.

A MachineOSConfig names its Secrets in the secrets namespace (a setting: upstream's API
says the MCO's namespace; by default the controller's). A pod mounts only Secrets of its
own namespace, so each build gets copies in the controller namespace, as upstream makes
`base-<mosb>` and `final-<mosb>`: owned by the MachineOSBuild (garbage-collected with
it) and deleted once it succeeded. Copies are always `kubernetes.io/dockerconfigjson`: a
`kubernetes.io/dockercfg` source (the form of OpenShift's `builder-dockercfg-*` secrets)
is converted, so the scripts read one form. Without a `baseImagePullSecret` the base is
pulled with the cluster's global pull secret (a setting; on OpenShift
`openshift-config/pull-secret`), as upstream does: never anonymously when one exists.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from api import EventReason
from api.names import DOCKERCFG_KEY, DOCKERCFG_TYPE, DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.inputs import BuildInputs, Refusal, short_name
from mosb_controller.planning.observed import Observed
from mosb_controller.settings import Settings

ACCEPTED_TYPES = (DOCKERCONFIGJSON_TYPE, DOCKERCFG_TYPE)
ROLES = ("push", "pull", "entitlement")
_REFUSALS = {
    "push": (EventReason.PUSH_SECRET_NOT_FOUND, EventReason.PUSH_SECRET_WRONG_TYPE),
    "pull": (EventReason.PULL_SECRET_NOT_FOUND, EventReason.PULL_SECRET_WRONG_TYPE),
}

SECRET_REFUSALS = frozenset(reason for pair in _REFUSALS.values() for reason in pair)


@dataclass(frozen=True)
class SecretCopy:
    """One Secret the build mounts: `name` in the controller namespace, made from
    `source` in `source_namespace`."""

    role: str  # push | pull
    source_namespace: str
    source: str
    name: str
    mosb: str  # its owner
    mosb_uid: str
    mosc: str


def copy_name(mosb: str, role: str) -> str:
    return short_name(mosb, f"{role}-secret")


def reference(value: str) -> tuple[str, str] | None:
    """A `namespace/name` setting as (namespace, name); None when not set."""
    namespace, _, name = value.partition("/")
    return (namespace, name) if namespace and name else None


def global_pull_secret(settings: Settings) -> tuple[str, str] | None:
    return reference(settings.global_pull_secret)


def entitlement_secret(settings: Settings) -> tuple[str, str] | None:
    return reference(settings.entitlement_secret)


def repo_configmaps(settings: Settings) -> tuple[tuple[str, str] | None, ...]:
    """The configured ConfigMaps of RPM repositories and of their keys, in that order."""
    return reference(settings.yum_repos_configmap), reference(settings.rpm_gpg_configmap)


def secrets_namespace(settings: Settings) -> str:
    return settings.secrets_namespace or settings.namespace


def _named(obs: Observed) -> Mapping[str, str]:
    """The secrets namespace's Secrets the planner knows of: name → type."""
    if obs.named_secrets is not None:
        return obs.named_secrets
    return obs.secrets


def sources(obs: Observed) -> dict[str, tuple[str, str]] | Refusal:
    """Role → (namespace, name) of the Secrets this MOSC's builds use, or why not."""
    spec, namespace = obs.mosc.spec, secrets_namespace(obs.settings)
    named = {"push": spec.rendered_image_push_secret.name}
    if spec.base_image_pull_secret is not None:
        named["pull"] = spec.base_image_pull_secret.name
    found: dict[str, tuple[str, str]] = {}
    for role, name in named.items():
        not_found, wrong_type = _REFUSALS[role]
        kind = _named(obs).get(name)
        if kind is None:
            return Refusal(
                not_found, f"the {role} secret {name} does not exist in namespace {namespace}"
            )
        if kind not in ACCEPTED_TYPES:
            return Refusal(
                wrong_type,
                f"the {role} secret {name} has type {kind}, not one of {', '.join(ACCEPTED_TYPES)}",
            )
        found[role] = (namespace, name)
    fallback = global_pull_secret(obs.settings)
    if "pull" not in found and fallback and obs.global_pull_secret in ACCEPTED_TYPES:
        found["pull"] = fallback
    entitlement = entitlement_secret(obs.settings)
    if entitlement and obs.entitlement:  # optional, as upstream: without it, no mount
        found["entitlement"] = entitlement
    return found


def check(inputs: BuildInputs, obs: Observed) -> BuildInputs | Refusal:
    """The inputs with the Secrets the Jobs mount (this build's copies) and, with the
    entitlement, the cluster's RPM repositories and keys (the inputs ConfigMap's)."""
    found = sources(obs)
    if isinstance(found, Refusal):
        return found
    mosb = inputs.mosb_name()
    pull = copy_name(mosb, "pull") if "pull" in found else None
    files = replace(inputs.cluster_files, yum_repos=obs.yum_repos, rpm_gpg=obs.rpm_gpg)
    return replace(
        inputs, push_secret=copy_name(mosb, "push"), pull_secret=pull, cluster_files=files
    )


def entitlement_copy(obs: Observed, mosb: str) -> str | None:
    """The name of this build's copy of the entitlement Secret, if it has one."""
    found = sources(obs)
    if isinstance(found, Refusal) or "entitlement" not in found:
        return None
    return copy_name(mosb, "entitlement")


def copies(obs: Observed, mosb: str, uid: str) -> list[SecretCopy]:
    found = sources(obs)
    if isinstance(found, Refusal):
        return []
    return [
        SecretCopy(role, ns, name, copy_name(mosb, role), mosb, uid, obs.mosc.name)
        for role, (ns, name) in found.items()
    ]


def dockerconfigjson(kind: str, data: Mapping[str, bytes]) -> bytes | None:
    """The Secret's credentials as a `.dockerconfigjson` document; None if unreadable."""
    try:
        if kind == DOCKERCONFIGJSON_TYPE:
            document = json.loads(data[DOCKERCONFIGJSON_KEY])
        elif kind == DOCKERCFG_TYPE:
            document = {"auths": json.loads(data[DOCKERCFG_KEY])}
        else:
            return None
    except (KeyError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("auths"), dict):
        return None
    return json.dumps(document).encode()


def copy_data(copy: SecretCopy, kind: str, data: Mapping[str, bytes]) -> dict[str, bytes] | None:
    """What the copy holds: credentials as `.dockerconfigjson`; the entitlement's files
    as they are. None if the source is not usable."""
    if copy.role == "entitlement":
        return dict(data) if data else None
    content = dockerconfigjson(kind, data)
    return None if content is None else {DOCKERCONFIGJSON_KEY: content}


def copy_body(copy: SecretCopy, data: Mapping[str, bytes], settings: Settings) -> dict[str, Any]:
    """The copy, in the controller namespace, holding `data` (see copy_data)."""
    role = f"{copy.role}-secret"
    meta = jobspec.owned_meta(copy.name, settings, copy.mosb, copy.mosb_uid, role, copy.mosc)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque" if copy.role == "entitlement" else DOCKERCONFIGJSON_TYPE,
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
