"""The pruner's I/O: read a repository (its tags and their manifests, and the manifests of
the images in use), the images nodes name, and delete manifests with `skopeo delete`,
through `imagecheck.Skopeo` (the same argv, credentials and trust as the image checks).

Deletes go by digest, the one the round read: a tag moved since then is not touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client import ApiClient

from api import ImageReference, PruneRefusal
from api.names import CURRENT_IMAGE_ANNOTATION, DESIRED_IMAGE_ANNOTATION
from mosb_controller.cluster.imagecheck import Access, Skopeo, classify
from mosb_controller.cluster.kube import pages
from mosb_controller.planning.observed import ImageCheck, RegistryAnswer
from mosb_controller.planning.retention import Inventory, Manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deleted:
    ok: bool
    refusal: PruneRefusal | None = None
    detail: str = ""


def manifest(digest: str, raw: bytes) -> Manifest:
    """A manifest's children (a list) or its declared size (config + layers). Pure."""
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return Manifest(digest)
    if not isinstance(data, dict):
        return Manifest(digest)
    if isinstance(data.get("manifests"), list):
        children = tuple(str(m.get("digest")) for m in data["manifests"] if isinstance(m, dict))
        return Manifest(digest, children=children)
    blobs = [data.get("config") or {}, *(data.get("layers") or [])]
    sizes = [b.get("size") for b in blobs if isinstance(b, dict)]
    total = sum(s for s in sizes if isinstance(s, int))
    return Manifest(digest, size=total or None)


def read_inventory(
    skopeo: Skopeo, access: Access, repository: str, in_use: Iterable[str]
) -> Inventory:
    """Every tag of `repository` with its manifest, and the manifests of the images in use
    there (a list a node runs needs its children). What can't be read is said, not guessed."""
    listed = skopeo.tags(repository, access)
    unreadable: dict[str, str] = {}
    tags: dict[str, str] = {}
    manifests: dict[str, Manifest] = {}
    if listed is None or (isinstance(listed, ImageCheck) and listed.state != RegistryAnswer.ABSENT):
        return Inventory(repository, {}, {}, {repository: "its tags could not be listed"})
    names = sorted(listed) if isinstance(listed, frozenset) else []
    refs = [f"{repository}:{t}" for t in names]
    refs += sorted({r for r in in_use if ImageReference.parse(r).repository == repository})
    for ref in refs:
        raw = skopeo.raw(ref, access)
        if isinstance(raw, str):
            unreadable[ref] = raw
            continue
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        manifests[digest] = manifest(digest, raw)
        parsed = ImageReference.parse(ref)
        if parsed.digest is None and parsed.tag is not None:
            tags[parsed.tag] = digest
    return Inventory(repository, tags, manifests, unreadable)


def delete(skopeo: Skopeo, access: Access, repository: str, digest: str) -> Deleted:
    code, said = skopeo.delete(ImageReference(repository).with_digest(digest), access)
    said = said.partition('msg="')[2].rstrip('"') or said  # skopeo's message, not its log frame
    if code == 0:
        return Deleted(True)
    # Whole words only: the message names the digest, whose hex may hold "401" or "405".
    lowered = said.lower()
    if re.search(r"\b(405|unsupported|not allowed)\b", lowered):
        return Deleted(False, PruneRefusal.METHOD_NOT_ALLOWED, said)
    if re.search(r"\b(401|403|unauthorized|denied|forbidden)\b", lowered):
        return Deleted(False, PruneRefusal.UNAUTHORIZED, said)
    # skopeo says a 404 on delete as "Image may not exist": another round got it first
    if "may not exist" in lowered or classify(code, b"", said).state == RegistryAnswer.ABSENT:
        return Deleted(True, detail="already gone")
    return Deleted(False, PruneRefusal.FAILED, said or f"skopeo exited with {code}")


def node_images(client: ApiClient) -> Mapping[str, str]:
    """Every image a node's currentImage or desiredImage annotation names → who names it."""
    core = kubernetes.client.CoreV1Api(client)
    found: dict[str, str] = {}
    for page in pages(core.list_node):
        for node in page.get("items") or []:
            meta = node.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            for key in (DESIRED_IMAGE_ANNOTATION, CURRENT_IMAGE_ANNOTATION):
                if annotations.get(key):
                    word = key.rpartition("/")[2]
                    found.setdefault(annotations[key], f"node {meta.get('name')}'s {word}")
    return found
