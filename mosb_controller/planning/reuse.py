"""Reuse: which earlier image an architecture of a new MachineOSBuild can take instead of
building. Pure; the registry's answers come in `Observed.images`, and the questions go
out in `Plan.image_checks`.

A build with the same key (the same inputs restricted to that architecture) pushed an
image that still exists: take it. Candidates are tried newest first, then this MOSB's own
per-architecture tag (the same name means the same inputs: a build whose MOSB was
deleted before it recorded its result).
"""

from __future__ import annotations

from dataclasses import dataclass

from api import ArchBuildPhase, ArchBuildRecord, ImageReference
from mosb_controller.planning.inputs import BuildInputs
from mosb_controller.planning.observed import ImageCheck, Observed, RegistryAnswer


@dataclass(frozen=True)
class ArchDecision:
    """What happens to one architecture, and why (the dry run shows these)."""

    arch: str
    action: str  # build | reuse | in progress | done | failed
    key: str
    reason: str


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
