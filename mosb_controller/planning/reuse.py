"""Reuse: which earlier image an architecture of a new MachineOSBuild can take instead of
building. Pure; the registry's answers come in `Observed.images`, and the questions go
out in `Plan.image_checks`.

A build with the same key (the same inputs restricted to that architecture) pushed an
image that still exists: take it. Candidates are tried newest first, then this MOSB's own
per-architecture tag (the same name means the same inputs: a build whose MOSB was
deleted before it recorded its result). Once every architecture has its image, an earlier
list of exactly those digests is reused the same way (`earlier_list`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api import ArchBuildPhase, ArchBuildRecord, BuildProgress, ImageReference
from mosb_controller.planning.arch_state import describe
from mosb_controller.planning.inputs import BuildInputs
from mosb_controller.planning.observed import ImageCheck, MosbView, Observed, RegistryAnswer


@dataclass(frozen=True)
class ArchDecision:
    """What happens to one architecture, and why (the dry run shows these)."""

    arch: str
    action: str  # build | reuse | in progress | done | failed
    key: str
    reason: str


def decision_of(record: ArchBuildRecord) -> ArchDecision:
    """An architecture's decision as its record now stands (for an existing MOSB)."""
    action = {
        ArchBuildPhase.REUSED: "reuse",
        ArchBuildPhase.SUCCEEDED: "done",
        ArchBuildPhase.FAILED: "failed",
        ArchBuildPhase.INTERRUPTED: "failed",
    }.get(record.phase, "in progress")
    return ArchDecision(record.arch, action, record.key, describe(record))


@dataclass(frozen=True)
class Reuse:
    """The first decision of one architecture of a new MOSB. `record` is None while a
    registry answer is missing: `question` names the image to ask about."""

    record: ArchBuildRecord | None
    decision: ArchDecision | None = None
    question: str | None = None


def candidates(
    obs: Observed, inputs: BuildInputs, desired: str, arch: str, key: str
) -> list[tuple[str, str]]:
    """(image reference, source MOSB) pairs to try, in order."""
    found = []
    for mosb in sorted(obs.mosbs.values(), key=lambda m: m.created or obs.now, reverse=True):
        record = mosb.records.get(arch)
        if record and record.key == key and record.phase.has_image and record.image:
            found.append((record.image, mosb.name))
    own_tag = ImageReference(inputs.repository).with_tag(inputs.tag(desired, arch))
    found.append((own_tag, desired))
    return found


def first_record(obs: Observed, inputs: BuildInputs, desired: str, arch: str, fresh: bool) -> Reuse:
    """Reuse an earlier image, or build (`fresh`: a rebuild request builds everything)."""
    key = inputs.arch_key(arch)
    pending = ArchBuildRecord(arch=arch, key=key, phase=ArchBuildPhase.PENDING)
    if fresh:
        return Reuse(pending, ArchDecision(arch, "build", key, "rebuild requested"))
    for ref, source in candidates(obs, inputs, desired, arch, key):
        answer = obs.images.get(ref)
        if answer is None:
            return Reuse(None, question=ref)
        if answer.state == RegistryAnswer.UNKNOWN:
            reason = f"cannot check {ref} ({answer.detail}), so building"
            return Reuse(pending, ArchDecision(arch, "build", key, reason))
        if answer.state == RegistryAnswer.EXISTS and answer.digest:
            return Reuse(
                _reused(pending, inputs, answer, source, obs),
                ArchDecision(arch, "reuse", key, f"same inputs as {source}, image {ref} exists"),
            )
    return Reuse(pending, ArchDecision(arch, "build", key, "no earlier image with these inputs"))


def _reused(
    pending: ArchBuildRecord, inputs: BuildInputs, answer: ImageCheck, source: str, obs: Observed
) -> ArchBuildRecord:
    return pending.model_copy(
        update={
            "phase": ArchBuildPhase.REUSED,
            "digest": answer.digest,
            "image": ImageReference(inputs.repository).with_digest(str(answer.digest)),
            "reused_from": source,
            "reason": "SameInputs",
            "message": f"image of {source}",
            "start": obs.now,
            "end": obs.now,
        }
    )


@dataclass(frozen=True)
class ListStep:
    """The push step when an earlier list can stand in for it: that list (`digested`,
    once the registry confirmed it), or the `question` to ask first."""

    digested: str | None
    phase: ArchBuildPhase
    message: str
    question: str | None = None


def list_step(
    obs: Observed, inputs: BuildInputs, mosb: MosbView, records: Mapping[str, ArchBuildRecord]
) -> ListStep | None:
    """Upstream's reuse, extended to the list: when every architecture has the same digest
    as in a succeeded earlier build of this repository, that build's list is this build's
    list too (a list is a function of its entries), so no push Job. Never for a rebuild
    request: it asked for nothing to be reused."""
    found = None if mosb.fresh else _earlier_list(obs, inputs, mosb.name, records)
    if found is None:
        return None
    source, digested = found
    answer = obs.images.get(digested)
    if answer is None:
        return ListStep(None, ArchBuildPhase.PENDING, f"push: checking the list of {source}",
                        question=digested)  # fmt: skip
    if answer.state == RegistryAnswer.EXISTS:
        return ListStep(digested, ArchBuildPhase.REUSED, f"push: the list of {source} reused")
    return None


def _earlier_list(
    obs: Observed, inputs: BuildInputs, mosb: str, records: Mapping[str, ArchBuildRecord]
) -> tuple[str, str] | None:
    digests = {arch: r.digest for arch, r in records.items()}
    prefix = f"{inputs.repository}@"
    for earlier in sorted(obs.mosbs.values(), key=lambda m: m.created or obs.now, reverse=True):
        published = earlier.status.digested_image_push_spec
        if earlier.name == mosb or earlier.terminal is not BuildProgress.SUCCEEDED:
            continue
        same = {a: r.digest for a, r in earlier.records.items()} == digests
        if same and published and published.startswith(prefix):
            return earlier.name, published
    return None
