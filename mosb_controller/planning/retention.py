"""Retention and pruning: which MachineOSBuilds retire, and which of the registry's tags
of retired builds can go. Pure: the registry's tags and manifests, and the images in use
outside our records, come in as observed input; the deletes go out as a decision.

Pruning compares the repository's tags with the live records, not with a list of MOSBs
deleted: a tag named like one of this MOSC's builds (`<mosc>-<hash>`, `-<arch>`) whose
MOSB no longer exists is a retired build's, whoever deleted it and whenever (retention,
an admin, or before a crash). So a restart needs no memory of what was deleted.

A manifest is deleted only if nothing can reach it: every digest named by the images in
use (MOSC status, nodes' annotations, ...), by a live record, or by any tag that is not a
retired build's is a root, and a list reaches its children. Deleting a manifest deletes
every tag of it (the registry deletes by digest), which is why foreign tags are roots too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from api import ImageReference, KubeArch, MachineOSBuild
from mosb_controller.planning.observed import MosbView, Observed, mosb_view


def retire(obs: Observed, desired: str) -> list[str]:
    """The finished MOSBs beyond the newest `retention_count`; never the one the inputs
    name (`desired`) nor the one the MOSC publishes."""
    published = obs.mosc.status.machine_os_build
    keep = {desired, published.name if published is not None else ""}
    finished = [
        m
        for m in obs.mosbs.values()
        if m.terminal is not None and not m.deleting and m.name not in keep
    ]
    finished.sort(key=lambda m: (m.created or obs.now, m.name), reverse=True)
    return sorted(m.name for m in finished[obs.settings.retention_count :])


def survivors(
    mosbs: Iterable[MosbView], deleted: Iterable[str], created: MachineOSBuild | None
) -> list[MosbView]:
    """The MOSBs after a pass: not being deleted, not deleted by it, and the one it created
    (whose records may reuse an image of a build the same pass retired)."""
    gone = set(deleted)
    live = [m for m in mosbs if not m.deleting and m.name not in gone]
    return live + ([mosb_view(created.to_k8s())] if created is not None else [])


@dataclass(frozen=True)
class Manifest:
    """What the registry says of one manifest: a list's children, and the bytes its
    config and layers declare (None for a list: its children count for themselves)."""

    digest: str
    children: tuple[str, ...] = ()
    size: int | None = None


@dataclass(frozen=True)
class Inventory:
    """The repository as read for one pruning round."""

    repository: str
    tags: Mapping[str, str]  # tag → manifest digest
    manifests: Mapping[str, Manifest]  # by digest: every tagged one, and the images in use
    unreadable: Mapping[str, str] = field(default_factory=dict)  # tag or reference → why


@dataclass(frozen=True)
class Delete:
    digest: str
    tags: tuple[str, ...]
    mosb: str  # the retired build the tags were named after
    size: int | None


@dataclass
class Pruning:
    deletes: list[Delete] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # retired MOSB → "tag: why"
    blocked: str | None = None  # why nothing may be deleted this round


def build_of(mosc: str, tag: str) -> str | None:
    """The MOSB a tag of ours was pushed for (`<mosc>-<16 hex>`, optionally `-<arch>`)."""
    arches = "|".join(KubeArch)
    match = re.fullmatch(rf"({re.escape(mosc)}-[0-9a-f]{{16}})(-({arches}))?", tag)
    return match.group(1) if match else None


def live_roots(mosbs: Iterable[MosbView]) -> dict[str, str]:
    """Digests the live records name (per-architecture images, the final image) → why."""
    roots: dict[str, str] = {}
    for mosb in mosbs:
        for record in mosb.records.values():
            if record.digest:
                roots.setdefault(record.digest, f"reused by MachineOSBuild {mosb.name}")
        final = ImageReference.parse(mosb.status.digested_image_push_spec or "").digest
        if final:
            roots.setdefault(final, f"the image of MachineOSBuild {mosb.name}")
    return roots


def prune(
    mosc: str,
    inventory: Inventory,
    live: Iterable[MosbView],
    in_use: Mapping[str, str],
    desired: str,
) -> Pruning:
    """What to delete. `live`: the MOSBs of this MOSC that stay; `desired`: the build its
    inputs name, whose tags stay even while it is deleted to be recreated (a retry reuses
    them); `in_use`: image references → who uses them (the current image, nodes' images)."""
    live = list(live)
    names = {m.name for m in live} | {desired}
    retired = {t: b for t in inventory.tags if (b := build_of(mosc, t)) and b not in names}
    result = Pruning()
    if inventory.unreadable:
        what, why = next(iter(sorted(inventory.unreadable.items())))
        result.blocked = f"cannot read {what} ({why}), so nothing can be proven unused"
        return result
    roots = live_roots(live)
    for ref, who in in_use.items():
        parsed = ImageReference.parse(ref)
        if parsed.repository != inventory.repository:
            continue
        digest = parsed.digest or inventory.tags.get(parsed.tag or "latest")
        if digest is None:
            result.blocked = f"{who} names {ref}, which the registry does not resolve"
            return result
        roots.setdefault(digest, who)
    for tag, digest in inventory.tags.items():
        if tag not in retired:
            roots.setdefault(digest, f"tag {tag}")
    reached = _reach(roots, inventory.manifests)
    by_digest: dict[str, list[str]] = {}
    for tag, build in sorted(retired.items()):
        digest = inventory.tags[tag]
        if digest in reached:
            result.kept.setdefault(build, []).append(f"{tag}: {reached[digest]}")
        else:
            by_digest.setdefault(digest, []).append(tag)
    for digest, tags in sorted(by_digest.items()):
        size = inventory.manifests[digest].size if digest in inventory.manifests else None
        result.deletes.append(Delete(digest, tuple(tags), retired[tags[0]], size))
    return result


def _reach(roots: Mapping[str, str], manifests: Mapping[str, Manifest]) -> dict[str, str]:
    """Every digest reachable from the roots (a list reaches its children) → why."""
    reached = dict(roots)
    todo = list(roots)
    while todo:
        digest = todo.pop()
        manifest = manifests.get(digest)
        for child in manifest.children if manifest else ():
            if child not in reached:
                reached[child] = f"in the list {digest[:19]}… ({reached[digest]})"
                todo.append(child)
    return reached
