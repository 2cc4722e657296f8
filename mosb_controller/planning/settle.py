"""Settle a plan with the registry's answers: plan, ask what the plan asks, plan again,
until it asks nothing new. Pure but for `ask`, which the caller brings: the build loop
asks the registry, the dry run may assume answers instead. Both call this; the questions
and what follows from the answers are the planner's alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from mosb_controller.planning.observed import ImageCheck, Observed
from mosb_controller.planning.plan import Plan, plan_mosc

# An architecture has at most one candidate per earlier MOSB, plus its own tag, and each
# round answers one candidate of every architecture: a few rounds always suffice.
MAX_ROUNDS = 8
AskRegistry = Callable[[Sequence[str]], Mapping[str, ImageCheck]]
ObservedT = TypeVar("ObservedT", bound=Observed)


def settle(
    obs: ObservedT, ask: AskRegistry, rounds: int = MAX_ROUNDS, first: Plan | None = None
) -> tuple[Plan, ObservedT]:
    """The plan once its registry questions are answered (or `rounds` ran out: then the
    plan still asks, and creates nothing it would need the answers for), and `obs` with
    the answers. `first`: the plan of `obs`, when the caller has made it already."""
    plan = first if first is not None else plan_mosc(obs)
    for _ in range(rounds):
        if not plan.image_checks:
            break
        answers = ask(plan.image_checks)
        obs = replace(obs, images={**obs.images, **answers})
        plan = plan_mosc(obs)
    return plan, obs
