"""When a refusal is worth an event (runtime/refusals.py): pure, no API, no clock."""

from __future__ import annotations

import datetime as dt

from api import EventReason
from mosb_controller.planning.inputs import Refusal
from mosb_controller.runtime.refusals import Refusals

T0 = dt.datetime(2026, 11, 29, 6, 0, tzinfo=dt.UTC)
NO_POOL = Refusal(EventReason.POOL_NOT_FOUND, "MachineConfigPool worker does not exist")


def test_a_refusal_is_reported_once_it_lasted_and_then_not_again() -> None:
    refusals = Refusals(grace=dt.timedelta(seconds=5))
    first = refusals.verdict("worker", NO_POOL, T0)
    assert not first.report and first.look_again == 5.0
    early = refusals.verdict("worker", NO_POOL, T0 + dt.timedelta(seconds=2))
    assert not early.report and early.look_again == 3.0
    assert refusals.verdict("worker", NO_POOL, T0 + dt.timedelta(seconds=5)).report
    assert not refusals.verdict("worker", NO_POOL, T0 + dt.timedelta(seconds=60)).report


def test_a_moments_refusal_or_a_quiet_one_is_never_reported() -> None:
    refusals = Refusals(grace=dt.timedelta(seconds=5))
    refusals.verdict("worker", NO_POOL, T0)
    assert refusals.verdict("worker", None, T0 + dt.timedelta(seconds=1)).look_again is None
    later = refusals.verdict("worker", NO_POOL, T0 + dt.timedelta(seconds=6))
    assert not later.report  # it went away meanwhile: the grace starts again
    quiet = Refusal(EventReason.ARCHITECTURES_PENDING, "pool worker not recorded yet", quiet=True)
    assert refusals.verdict("worker", quiet, T0 + dt.timedelta(minutes=5)) == (
        refusals.verdict("worker", quiet, T0 + dt.timedelta(minutes=10))
    )
    assert not refusals.verdict("worker", quiet, T0 + dt.timedelta(minutes=10)).report


def test_a_different_refusal_starts_its_own_grace() -> None:
    refusals = Refusals(grace=dt.timedelta(seconds=5))
    refusals.verdict("worker", NO_POOL, T0)
    assert refusals.verdict("worker", NO_POOL, T0 + dt.timedelta(seconds=5)).report
    other = Refusal(EventReason.NO_ARCHITECTURES, "MachineConfigPool worker selects no node")
    assert not refusals.verdict("worker", other, T0 + dt.timedelta(seconds=6)).report
    assert refusals.verdict("worker", other, T0 + dt.timedelta(seconds=11)).report
