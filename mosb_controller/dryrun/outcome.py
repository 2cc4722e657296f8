"""The dry run's answer: the operator's own plan, settled with registry answers (assumed,
or asked by the caller), and what a person should know about it. Pure.

A dry run needs no registry credentials: by default an image an earlier MachineOSBuild
recorded (by digest, or the tag a recorded build pushed) is assumed to exist and any
other tag to be absent, and the output says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from api import ArchBuildPhase, ArchBuildRecord
from mosb_controller.dryrun.objects import DryRunObserved
from mosb_controller.planning.arch_state import describe
from mosb_controller.planning.observed import ImageCheck, MosbView, Observed, RegistryAnswer
from mosb_controller.planning.plan import MosbAction, Plan, plan_mosc
from mosb_controller.planning.retention import retire
from mosb_controller.planning.reuse import ArchDecision
from mosb_controller.planning.settle import settle

ASSUMED_EXISTS = "assumed to exist (not checked)"
ASSUMED_ABSENT = "assumed absent (not checked)"
Answerer = Callable[[Sequence[str]], Mapping[str, ImageCheck]]
_O = TypeVar("_O", bound=Observed)


def assumed_answers(obs: Observed) -> Answerer:
    """Registry answers without asking the registry: images the MachineOSBuilds' records
    name exist (by digest; and the tag a recorded build pushed), every other tag is
    absent. The answers' details say they are assumptions."""
    known: dict[str, str] = {}
    for mosb in obs.mosbs.values():
        for arch_name, record in mosb.records.items():
            if not (record.phase.has_image and record.image and record.digest):
                continue
            known[record.image] = record.digest
            if record.phase is ArchBuildPhase.SUCCEEDED:  # it pushed its own tag
                repository = record.image.rsplit("@", 1)[0]
                tag = mosb.name if len(mosb.records) == 1 else f"{mosb.name}-{arch_name}"
                known[f"{repository}:{tag}"] = record.digest

    def answer(ref: str) -> ImageCheck:
        digest = known.get(ref)
        if digest is not None:
            return ImageCheck(RegistryAnswer.EXISTS, digest, ASSUMED_EXISTS)
        return ImageCheck(RegistryAnswer.ABSENT, detail=ASSUMED_ABSENT)

    return lambda refs: {ref: answer(ref) for ref in refs}


def _removed_first(obs: Observed, plan: Plan) -> set[str]:
    """MachineOSBuilds the operator deletes (or that are going) before it creates one.
    Not those it retires: the pass that retires them may still reuse their images."""
    retired = set(retire(obs, plan.mosb_name or ""))
    deleting = {m.name for m in obs.mosbs.values() if m.deleting}
    return (set(plan.delete_mosbs) - retired) | deleting


def _unseen_job(record: ArchBuildRecord) -> bool:
    return not record.phase.is_finished and record.job is not None


def _as_recorded(decisions: Iterable[ArchDecision], mosb: MosbView) -> list[ArchDecision]:
    """The decisions, with each architecture whose Job ran but is unseen shown as its
    record stands (advancing it without its Job would call it interrupted)."""
    shown = []
    for decision in decisions:
        record = mosb.records.get(decision.arch)
        if record is not None and _unseen_job(record):
            decision = ArchDecision(record.arch, "in progress", record.key, describe(record))
        shown.append(decision)
    return shown


def complete_plan(obs: _O, answer: Answerer | None = None) -> tuple[Plan, _O]:
    """The operator's plan once every registry question is answered, and `obs` with the
    answers. When the operator would first delete MachineOSBuilds (one active build per
    MachineOSConfig, a rebuild or a retry), the plan is the one it makes after that:
    the decisions about the MachineOSBuild it then creates."""
    answer = answer if answer is not None else assumed_answers(obs)
    first = plan_mosc(obs)
    if first.refusal is not None:
        return first, obs
    removed = _removed_first(obs, first)
    after = replace(obs, mosbs={n: m for n, m in obs.mosbs.items() if n not in removed})
    rounds = len(obs.mosbs) + 3  # an architecture has one candidate per MOSB, plus its tag
    plan, answered = settle(after, answer, rounds)
    if plan.image_checks:
        raise RuntimeError(f"registry questions did not settle after {rounds} rounds")
    # What happens first to the MachineOSBuild is the first plan's: it may go and return.
    plan = replace(plan, mosb_action=first.mosb_action)
    current = after.mosbs.get(plan.mosb_name or "")
    if current is not None and isinstance(obs, DryRunObserved) and not obs.jobs_known:
        plan = replace(plan, decisions=_as_recorded(plan.decisions, current))
    return plan, replace(obs, images=answered.images)


# -- output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MosbOutcome:
    name: str | None
    exists: bool
    action: str | None  # create | recreate | keep; None when refused
    text: str


_OUTCOMES = {
    MosbAction.CREATE: ("create", "would be created"),
    MosbAction.CREATE_REBUILD: ("create", "would be created (rebuild requested)"),
    MosbAction.RECREATE_DELETING: ("recreate", "being deleted; would be created again"),
    MosbAction.RECREATE_REBUILD: ("recreate", "would be recreated (rebuild requested)"),
    MosbAction.RECREATE_RETRY: (
        "recreate",
        "would be recreated (retry of the failed architectures)",
    ),
}


def mosb_outcome(plan: Plan, obs: Observed) -> MosbOutcome:
    """The planner's decision about the MachineOSBuild, in words."""
    name = plan.mosb_name
    if name is None or plan.mosb_action is None:
        return MosbOutcome(None, False, None, "none")
    current = obs.mosbs.get(name)
    if plan.mosb_action is MosbAction.KEEP:
        state = current.state if current is not None else None
        return MosbOutcome(name, True, "keep", f"exists already ({state or 'no status yet'})")
    action, text = _OUTCOMES[plan.mosb_action]
    return MosbOutcome(name, current is not None, action, text)


def notes(plan: Plan, obs: Observed) -> list[str]:
    """What a person should know about how the answer was reached, in a fixed order."""
    dry = obs if isinstance(obs, DryRunObserved) else None
    found = list(dry.input_notes) if dry else []
    desired = plan.mosb_name or ""
    others = sorted(m.name for m in obs.mosbs.values() if m.name != desired and m.terminal is None)
    if plan.refusal is None and others:
        found.append(
            f"first removes unfinished MachineOSBuild {', '.join(others)} "
            "(one active build per MachineOSConfig)"
        )
    timeout = obs.settings.no_node_timeout_seconds
    for decision in plan.decisions:
        if decision.action == "build" and obs.buildable.get(decision.arch, 0) <= 0:
            found.append(
                f"no Ready, schedulable {decision.arch} node now: its build would wait, "
                f"and fail after {timeout}s"
            )
    current = obs.mosbs.get(desired) if mosb_outcome(plan, obs).action == "keep" else None
    unseen = current is not None and any(_unseen_job(r) for r in current.records.values())
    if unseen and dry is not None and not dry.jobs_known:
        found.append("Jobs not seen: architectures whose Job ran are shown as recorded")
    assumed = sorted(ref for ref, a in obs.images.items() if a.detail == ASSUMED_EXISTS)
    if any(a.detail in (ASSUMED_EXISTS, ASSUMED_ABSENT) for a in obs.images.values()):
        found.append(
            "registry not checked (--check-registry to check): images the MachineOSBuilds "
            "recorded are assumed to exist, other tags to be absent"
        )
    found += [f"{ref}: {ASSUMED_EXISTS}" for ref in assumed]
    return found
