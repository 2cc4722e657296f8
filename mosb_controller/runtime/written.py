"""Our own writes, until the watch shows them: the one answer to "is this index behind
what we wrote?".

Between a write and its watch event the index still shows the version we wrote over.
Reading it then would repeat the write, or make a conditional write that can only earn a
409. So each write is remembered with the resourceVersion it replaced: while an index
shows exactly that version, it is behind, and what we wrote is the truth. Any other
version (ours or someone else's) is newer and wins. Writes happen on worker threads and
reads on the event loop, so every access holds a lock; entries expire after a minute, in
case a watch event never comes.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from cachetools import TTLCache

TTL_SECONDS = 60


class OwnWrites:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        # key → (every version our writes replaced, what the last one wrote): a pass may
        # write one object twice (status, then annotations) before the watch shows either.
        self._written: TTLCache[Hashable, tuple[frozenset[str], Any]] = TTLCache(
            maxsize=10_000, ttl=ttl
        )
        self._lock = threading.Lock()

    def wrote(self, key: Hashable, over: str, value: Any = None) -> None:
        """We wrote `value` over the object's version `over` ("" when it did not exist)."""
        with self._lock:
            replaced, _ = self._written.get(key, (frozenset(), None))
            self._written[key] = (replaced | {over}, value)

    def behind(self, key: Hashable, seen: str) -> bool:
        """Does an index showing version `seen` still show the object as before our write?"""
        with self._lock:
            written = self._written.get(key)
            return written is not None and seen in written[0]

    def effective(self, key: Hashable, seen: str, value: Any) -> Any:
        """What the object holds: our write while the index is behind it, else `value`."""
        with self._lock:
            written = self._written.get(key)
            if written is not None and seen in written[0]:
                return written[1]
            self._written.pop(key, None)
            return value
