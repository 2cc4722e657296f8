"""Read back what a build put into an image in the local registry, without running it.

For tests and the demo: a RUN step's output file in each image of a published manifest
list, and the platform each image's config declares. Layers are read through the
registry's API, top layer first, as a container's root filesystem would show them.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from typing import Any

from api import ImageReference
from hack.registry import MANIFEST_ACCEPT, LocalRegistry


def split_ref(ref: str) -> tuple[str, str]:
    """`host[:port]/repo@sha256:…` or `host[:port]/repo:tag` → (repo, reference)."""
    parsed = ImageReference.parse(ref)
    _, _, repo = parsed.repository.partition("/")  # the registry API names it without the host
    return repo, parsed.digest or parsed.tag or "latest"


def _get(registry: LocalRegistry, repo: str, kind: str, reference: str) -> bytes:
    status, _, body = registry.request(
        "GET", f"/v2/{repo}/{kind}/{reference}", headers={"Accept": MANIFEST_ACCEPT}
    )
    if status != 200:
        raise RuntimeError(f"GET {repo} {kind} {reference}: HTTP {status}")
    return body


def manifest(registry: LocalRegistry, repo: str, reference: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_get(registry, repo, "manifests", reference))
    return data


def config(registry: LocalRegistry, repo: str, reference: str) -> dict[str, Any]:
    """The image config (architecture, os, config, history…) of a single image."""
    digest = manifest(registry, repo, reference)["config"]["digest"]
    data: dict[str, Any] = json.loads(_get(registry, repo, "blobs", digest))
    return data


def read_file(registry: LocalRegistry, repo: str, reference: str, path: str) -> bytes | None:
    """The content of `path` in the image, None if no layer has it (or one deleted it)."""
    wanted = posixpath.normpath("/" + path).lstrip("/")
    parent, name = posixpath.split(wanted)
    whiteout = posixpath.join(parent, ".wh." + name)
    for layer in reversed(manifest(registry, repo, reference)["layers"]):
        blob = _get(registry, repo, "blobs", layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for member in tar:
                member_name = posixpath.normpath(member.name).lstrip("/")
                if member_name == whiteout:
                    return None
                if member_name == wanted and member.isfile():
                    extracted = tar.extractfile(member)
                    return extracted.read() if extracted is not None else None
    return None


def per_platform(registry: LocalRegistry, ref: str, path: str) -> dict[str, dict[str, Any]]:
    """For each image of the manifest list at `ref` (or the one image, for a homogeneous
    pool): its platform in the list, the architecture its config declares and the content
    of `path` (None if absent)."""
    repo, reference = split_ref(ref)
    top = manifest(registry, repo, reference)
    if "manifests" in top:
        entries = [(e["digest"], e["platform"]) for e in top["manifests"]]
    else:
        declared = config(registry, repo, reference)
        entries = [(reference, {"os": declared["os"], "architecture": declared["architecture"]})]
    found: dict[str, dict[str, Any]] = {}
    for digest, platform in entries:
        arch = platform["architecture"]
        content = read_file(registry, repo, digest, path)
        found[arch] = {
            "digest": digest,
            "platform": f"{platform['os']}/{arch}",
            "config_arch": config(registry, repo, digest)["architecture"],
            "content": None if content is None else content.decode(errors="replace"),
        }
    return found
