"""Reads that serve every pass for a few seconds: a burst of passes makes one request.

For what no watch shows (the Proxy, CAs, the MCO's images, Secrets and ConfigMaps outside
the controller's namespace) and for what every build of a burst reads again (the MOSC's
push secret: for its image checks, then for each of its copies). In the scale benchmark's
burst of 50 new MachineOSConfigs sharing one push secret, reading it once per build cost
150 GETs per round; through here it costs a few.

A change reaches passes at most TTL_SECONDS later. Each entry is read under the lock, so
concurrent passes asking for the same key wait for the one read instead of all making it;
a read that raises is not kept (the next pass asks again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

TTL_SECONDS = 5.0
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentReads(Generic[K, V]):
    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        maxsize: int = 256,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()  # passes run in worker threads
        self._kept: TTLCache[K, V] = TTLCache(maxsize, ttl, timer)

    def get(self, key: K, read: Callable[[], V]) -> V:
        """The value read for `key` within the last TTL seconds, else `read()` now.
        Blocking: call it from a worker thread."""
        with self._lock:
            if key in self._kept:
                return self._kept[key]
            value = read()
            self._kept[key] = value
            return value
