"""The files the cluster gives every build besides credentials, and how the Jobs see them.
Pure.

* The pool's `/etc/containers/registries.conf` and `policy.json`, as its rendered
  MachineConfig carries them (Ignition `storage.files`: data: URLs, maybe gzip). On
  OpenShift the MCO renders ImageDigestMirrorSets, ImageTagMirrorSets and the image
  config's registry lists into them, and nodes pull with them. Build and push pods use the
  same files: a mirror the nodes pull through is one the build pulls through, and a base
  the nodes' policy rejects is rejected at build time, not at rollout. Upstream makes
  them ephemeral ConfigMaps (`etc-registries-`, `etc-policy-<mosb>`); here they are keys
  of the build's inputs ConfigMap, which the MOSB owns and which goes with the build.
* The RHEL repository definitions and their GPG keys (upstream's `etc-yum-repos-d` and
  `etc-pki-rpm-gpg`), which RUN steps see at /etc/yum.repos.d and /etc/pki/rpm-gpg next
  to the entitlement Secret (buildsecrets.py): also keys of the inputs ConfigMap.

Whatever is absent leaves the build as it is without it (the builder image's defaults).
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from api import MachineConfig

REGISTRIES_CONF_PATH = "/etc/containers/registries.conf"
POLICY_JSON_PATH = "/etc/containers/policy.json"
# Keys of the inputs ConfigMap (objects.py) and the files' names in the pods.
REGISTRIES_CONF = "registries.conf"
POLICY_JSON = "policy.json"
YUM_REPOS_PREFIX = "yum.repos.d."
RPM_GPG_PREFIX = "rpm-gpg."
# Where the pods see them; the scripts get these paths in env (MOSB_REGISTRIES_CONF...).
CONTAINERS_MOUNT = "/etc/mosb/containers"
YUM_REPOS_MOUNT = "/etc/mosb/yum.repos.d"
RPM_GPG_MOUNT = "/etc/mosb/rpm-gpg"


@dataclass(frozen=True)
class ClusterFiles:
    registries_conf: str | None = None
    policy_json: str | None = None
    yum_repos: Mapping[str, str] = field(default_factory=dict)  # file name → content
    rpm_gpg: Mapping[str, str] = field(default_factory=dict)

    def configmap_data(self) -> dict[str, str]:
        """This build's keys of its inputs ConfigMap (none for what is absent)."""
        data = {YUM_REPOS_PREFIX + n: c for n, c in self.yum_repos.items()}
        data |= {RPM_GPG_PREFIX + n: c for n, c in self.rpm_gpg.items()}
        if self.registries_conf is not None:
            data[REGISTRIES_CONF] = self.registries_conf
        if self.policy_json is not None:
            data[POLICY_JSON] = self.policy_json
        return data


# -- from the rendered MachineConfig -----------------------------------------------------
def decode_source(source: str, compression: str | None = None) -> bytes:
    """An Ignition file's contents from its data: URL (RFC 2397, base64 or
    percent-encoded), gunzipped if `compression` says gzip. ValueError if it can't be."""
    if not source.startswith("data:"):
        # The MCO renders every file inline; a remote source would be fetched by the
        # node, never by us.
        raise ValueError("its source is not a data: URL")
    header, comma, payload = source[len("data:") :].partition(",")
    if not comma:
        raise ValueError("its data: URL has no ','")
    if header.rsplit(";", 1)[-1].strip().lower() == "base64":
        raw = base64.b64decode(unquote(payload), validate=True)
    else:
        raw = unquote_to_bytes(payload)
    if not compression:
        return raw
    if compression != "gzip":
        raise ValueError(f"unknown compression {compression!r}")
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"it is not valid gzip ({exc})") from exc


def _file(config: Mapping[str, Any], path: str) -> str | None:
    """The text of the Ignition file at `path` (the last entry wins, as in the MCO's
    merge); None if there is none. ValueError if it can't be read."""
    storage = config.get("storage") or {}
    found = [f for f in storage.get("files") or () if isinstance(f, dict) and f.get("path") == path]
    if not found:
        return None
    contents = found[-1].get("contents") or {}
    source = contents.get("source")
    if not isinstance(source, str):
        raise ValueError("it has no contents.source")
    try:
        return decode_source(source, contents.get("compression")).decode()
    except ValueError as exc:  # UnicodeDecodeError and binascii.Error are ValueErrors
        raise ValueError(f"{path}: {exc}") from exc


def from_rendered(rendered: MachineConfig | None) -> ClusterFiles:
    """The registries files the rendered MachineConfig carries. ValueError (naming the
    file) when one is there but can't be decoded: building without the cluster's
    signature policy would be building against it."""
    if rendered is None:
        return ClusterFiles()
    config = rendered.spec.config
    return ClusterFiles(_file(config, REGISTRIES_CONF_PATH), _file(config, POLICY_JSON_PATH))


def registries_conf(rendered: MachineConfig | None) -> str | None:
    """The pool's registries.conf, for the operator's own registry reads; None without
    one (or with an undecodable one: the plan refuses to build with it anyway)."""
    try:
        return from_rendered(rendered).registries_conf
    except ValueError:
        return None


# -- how the Jobs see them (objects.py renders the Jobs) --------------------------------
_REPOS = (  # volume name, ConfigMap key prefix, ClusterFiles field, mount, env
    ("yum-repos", YUM_REPOS_PREFIX, "yum_repos", YUM_REPOS_MOUNT, "MOSB_YUM_REPOS_DIR"),
    ("rpm-gpg", RPM_GPG_PREFIX, "rpm_gpg", RPM_GPG_MOUNT, "MOSB_RPM_GPG_DIR"),
)


def common_env() -> dict[str, str]:
    """Build and push pods: where the registries.conf is if this build has one (the
    scripts use a file only when it is there)."""
    return {"MOSB_REGISTRIES_CONF": f"{CONTAINERS_MOUNT}/{REGISTRIES_CONF}"}


def build_env(files: ClusterFiles) -> dict[str, str]:
    """Build pods: where the policy.json is if this build has one (the base is the one
    image a build pulls), and the RPM repositories' and keys' directories ("": none)."""
    env = {"MOSB_SIGNATURE_POLICY": f"{CONTAINERS_MOUNT}/{POLICY_JSON}"}
    for _, _, found, mount, var in _REPOS:
        env[var] = mount if getattr(files, found) else ""
    return env


def containers_volume(configmap: str) -> dict[str, Any]:
    """Both keys, always, and optional: the Job does not depend on which of them the
    ConfigMap holds (it may be older than the Job: a retry's, or an earlier operator's)."""
    items = [{"key": k, "path": k} for k in (REGISTRIES_CONF, POLICY_JSON)]
    return {
        "name": "containers-conf",
        "configMap": {"name": configmap, "items": items, "optional": True},
    }


def containers_mount() -> dict[str, Any]:
    return {"name": "containers-conf", "mountPath": CONTAINERS_MOUNT, "readOnly": True}


def build_volumes(
    files: ClusterFiles, configmap: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The build Job's volumes and mounts of the RPM repositories and keys (none when
    absent). Optional, for the same reason as `containers_volume`."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for name, prefix, found, mount, _ in _REPOS:
        names: Mapping[str, str] = getattr(files, found)
        if names:
            items = [{"key": prefix + n, "path": n} for n in sorted(names)]
            source = {"name": configmap, "items": items, "optional": True}
            volumes.append({"name": name, "configMap": source})
            mounts.append({"name": name, "mountPath": mount, "readOnly": True})
    return volumes, mounts
