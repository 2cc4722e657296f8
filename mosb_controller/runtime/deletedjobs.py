"""Jobs the watch saw deleted, remembered for an hour by the MachineOSBuild that owned them.

A Job deleted before any pass observed it is still an interruption, not a Job to create
again (planning/plan.py asks by (name, owner uid)). Event loop only. Kept by owner so a
pass reads only its own MOSBs' entries, and forgotten oldest first: the scale benchmark's
round deletes 500 Jobs; rebuilding the whole memory on each deletion was 1 % of the
operator's CPU (py-spy), and every pass copied all of it.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable

KEPT = dt.timedelta(hours=1)


class DeletedJobs:
    def __init__(self) -> None:
        self._by_owner: dict[str, dict[str, dt.datetime]] = {}
        self._order: deque[tuple[dt.datetime, str, str]] = deque()  # oldest first

    def seen(self, name: str, owner_uid: str, now: dt.datetime) -> None:
        while self._order and now - self._order[0][0] >= KEPT:
            when, owner, old = self._order.popleft()
            names = self._by_owner.get(owner, {})
            if names.get(old) == when:  # not seen again since
                del names[old]
                if not names:
                    del self._by_owner[owner]
        self._by_owner.setdefault(owner_uid, {})[name] = now
        self._order.append((now, owner_uid, name))

    def of(self, owner_uids: Iterable[str]) -> frozenset[tuple[str, str]]:
        """(name, owner uid) of the Jobs deleted within the hour, of these owners."""
        return frozenset((name, uid) for uid in owner_uids for name in self._by_owner.get(uid, ()))
