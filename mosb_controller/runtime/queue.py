"""A work queue of keys, kept apart from what processes them (as controller-runtime's
workqueue is apart from `Reconcile`).

- A key waits in the queue at most once. A key added while a worker processes it is
  processed once more afterwards, never by two workers at once.
- Lower priority values go first; equal ones in the order they were added.
- `process(key)` returns how long until the key should be looked at again (None: only on
  the next event). The latest pass's answer stands: it replaces a look-again an earlier
  pass asked for (a pass that saw a build finish cancels the 30 s resync the pass before
  it set). When it raises, `on_error` is told and the key comes back after a
  per-key exponential backoff, reset by the next success.
- Workers take keys only while `gate` is set (leader election).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

Process = Callable[[str], Awaitable[float | None]]


def open_gate() -> asyncio.Event:
    """A gate that is always open: without leader election, every replica works."""
    event = asyncio.Event()
    event.set()
    return event


class WorkQueue:
    def __init__(
        self,
        process: Process,
        *,
        workers: int,
        gate: asyncio.Event,
        on_error: Callable[[str, Exception], None],
        priority: Callable[[str], int] = lambda key: 0,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        self._process, self._workers_wanted, self.gate = process, workers, gate
        self._on_error, self._priority = on_error, priority
        self.base_delay, self.max_delay = base_delay, max_delay
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._queued: set[str] = set()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._workers: list[asyncio.Task[None]] = []

    def add(self, key: str) -> None:
        if not self._workers:  # started lazily: handlers add before the loop is known
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._work(), name=f"queue-{i}")
                for i in range(self._workers_wanted)
            ]
        if key in self._busy:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait((self._priority(key), next(self._order), key))

    def add_after(self, key: str, delay: float) -> None:
        """Look at `key` again in `delay` seconds; replaces an earlier pending delay."""
        self._cancel_timer(key)
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self.add, key)

    def _cancel_timer(self, key: str) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

    def backoff(self, key: str) -> float:
        """The delay before the next retry of `key` after its failures so far."""
        failures = self._failures.get(key, 0)
        return min(self.base_delay * 2.0**failures, self.max_delay)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            _, _, key = await self._queue.get()
            await self.gate.wait()
            self._queued.discard(key)
            self._busy.add(key)
            try:
                after = await self._process(key)
            except Exception as exc:
                self._on_error(key, exc)
                delay = self.backoff(key)
                self._failures[key] = self._failures.get(key, 0) + 1
                self.add_after(key, delay)
            else:
                self._failures.pop(key, None)
                if after is not None:
                    self.add_after(key, after)
                else:
                    self._cancel_timer(key)
            finally:
                self._busy.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)
