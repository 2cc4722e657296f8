"""The work queue (runtime/queue.py) apart from any controller: pure asyncio, no API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mosb_controller.runtime.queue import WorkQueue


def gate(open_: bool = True) -> asyncio.Event:
    event = asyncio.Event()
    if open_:
        event.set()
    return event


async def until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the workers run until `done` holds (a slow machine only makes it take longer)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not done():
        assert loop.time() < end, "the queue did not get there"
        await asyncio.sleep(0.005)


async def idle() -> None:
    """A moment for workers that could (wrongly) still run something."""
    await asyncio.sleep(0.05)


async def test_a_key_added_many_times_while_waiting_is_processed_once() -> None:
    seen: list[str] = []

    async def process(key: str) -> float | None:
        seen.append(key)
        return None

    queue = WorkQueue(process, workers=2, gate=gate(False), on_error=lambda k, e: None)
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    queue.gate.set()
    await until(lambda: len(seen) >= 2)
    await idle()
    assert sorted(seen) == ["a", "b"]
    await queue.stop()


async def test_a_key_is_never_processed_twice_at_once_and_again_after_if_added_meanwhile() -> None:
    running: set[str] = set()
    overlaps, passes = [], []

    async def process(key: str) -> float | None:
        overlaps.append(key in running)
        running.add(key)
        passes.append(key)
        await asyncio.sleep(0.02)
        running.discard(key)
        return None

    queue = WorkQueue(process, workers=4, gate=gate(), on_error=lambda k, e: None)
    queue.add("a")
    await asyncio.sleep(0.005)
    queue.add("a")  # while it runs: once more afterwards
    queue.add("a")
    await until(lambda: len(passes) >= 2 and not running)
    await idle()
    assert passes == ["a", "a"] and not any(overlaps)
    await queue.stop()


async def test_lower_priority_values_go_first() -> None:
    order: list[str] = []

    async def process(key: str) -> float | None:
        order.append(key)
        return None

    priority = {"busy": 1, "new": 0}
    queue = WorkQueue(
        process,
        workers=1,
        gate=gate(False),
        on_error=lambda k, e: None,
        priority=lambda key: priority[key],
    )
    queue.add("busy")
    queue.add("new")
    queue.gate.set()
    await until(lambda: len(order) == 2)
    assert order == ["new", "busy"]
    await queue.stop()


async def test_failures_back_off_exponentially_per_key_and_success_resets() -> None:
    errors: list[str] = []
    outcomes = iter([RuntimeError("a"), RuntimeError("b"), None, None])
    successes: list[str] = []

    async def process(key: str) -> float | None:
        outcome = next(outcomes)
        successes.extend([] if outcome else [key])
        if outcome is not None:
            raise outcome
        return None

    queue = WorkQueue(
        process,
        workers=1,
        gate=gate(),
        on_error=lambda k, e: errors.append(str(e)),
        base_delay=0.01,
        max_delay=0.03,
    )
    assert queue.backoff("k") == 0.01
    queue.add("k")
    await until(lambda: bool(successes))
    assert queue.backoff("k") == 0.01  # reset by the success
    assert errors == ["a", "b"]  # retried after each failure, then it succeeded
    await queue.stop()


async def test_process_decides_when_to_look_again() -> None:
    passes: list[float] = []

    async def process(key: str) -> float | None:
        passes.append(asyncio.get_running_loop().time())
        return 0.02 if len(passes) < 3 else None

    queue = WorkQueue(process, workers=1, gate=gate(), on_error=lambda k, e: None)
    queue.add("k")
    await until(lambda: len(passes) >= 3)
    await asyncio.sleep(0.1)
    assert len(passes) == 3  # twice "again in 20 ms", then "at the next event"
    await queue.stop()


async def test_the_latest_pass_s_answer_replaces_an_earlier_look_again() -> None:
    # A pass asks to look again in a while (a build still running); an event's pass then
    # finds nothing left to watch for (the build finished): the earlier look-again goes.
    answers: list[float | None] = [0.1, None]
    passes = 0

    async def process(key: str) -> float | None:
        nonlocal passes
        passes += 1
        return answers.pop(0) if answers else None

    queue = WorkQueue(process, workers=1, gate=gate(), on_error=lambda k, e: None)
    queue.add("k")
    await until(lambda: passes == 1)
    queue.add("k")  # the event
    await until(lambda: passes == 2)
    await asyncio.sleep(0.25)  # past the first pass's 0.1 s
    assert passes == 2
    await queue.stop()


async def test_nothing_runs_while_the_gate_is_closed() -> None:
    passes: list[str] = []

    async def process(key: str) -> float | None:
        passes.append(key)
        return None

    queue = WorkQueue(process, workers=1, gate=gate(False), on_error=lambda k, e: None)
    queue.add("k")
    await idle()
    assert passes == []
    queue.gate.set()
    await until(lambda: bool(passes))
    assert passes == ["k"]
    await queue.stop()
