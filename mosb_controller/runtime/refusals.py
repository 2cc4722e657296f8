"""When to tell an admin why nothing is built: once per refusal, and only when it lasts.

A MOSC created together with its pool is refused for a moment (the pool is not recorded
yet); that is never worth an event. So a refusal is reported once it has held for
REFUSAL_GRACE, and not again until it changes or goes away. The build loop posts what
this decides; here is only the bookkeeping (one MOSC's refusal at a time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mosb_controller.planning.inputs import Refusal

REFUSAL_GRACE = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class Verdict:
    report: bool  # post the Warning event now
    look_again: float | None  # seconds until the refusal may have lasted long enough


class Refusals:
    def __init__(self, grace: dt.timedelta = REFUSAL_GRACE) -> None:
        self.grace = grace
        self._seen: dict[str, tuple[Refusal, dt.datetime, bool]] = {}  # since, reported

    def verdict(self, mosc: str, refusal: Refusal | None, now: dt.datetime) -> Verdict:
        if refusal is None or refusal.quiet:
            self._seen.pop(mosc, None)
            return Verdict(False, None)
        seen = self._seen.get(mosc)
        if seen is None or seen[0] != refusal:
            self._seen[mosc] = (refusal, now, False)
            return Verdict(False, self.grace.total_seconds())
        _, since, reported = seen
        if reported:
            return Verdict(False, None)
        if now - since < self.grace:
            return Verdict(False, (self.grace - (now - since)).total_seconds())
        self._seen[mosc] = (refusal, since, True)
        return Verdict(True, None)
