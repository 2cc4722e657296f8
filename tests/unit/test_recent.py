"""RecentReads: one read serves every caller for its few seconds; failures are not kept."""

from __future__ import annotations

import threading
import time

import pytest

from mosb_controller.cluster.recent import RecentReads


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_serves_until_its_seconds_are_up() -> None:
    clock, reads = Clock(), []
    recent: RecentReads[str, int] = RecentReads(ttl=5, timer=clock)

    def read() -> int:
        reads.append(clock.now)
        return len(reads)

    assert recent.get("push", read) == 1
    clock.now = 4.9
    assert recent.get("push", read) == 1
    assert recent.get("pull", read) == 2  # another key is read on its own
    clock.now = 5.0
    assert recent.get("push", read) == 3
    assert reads == [0.0, 4.9, 5.0]


def test_nothing_found_is_kept_too() -> None:
    recent: RecentReads[str, str | None] = RecentReads(timer=Clock())
    calls = []
    for _ in range(3):
        assert recent.get("absent", lambda: calls.append(1)) is None
    assert len(calls) == 1


def test_a_failed_read_is_not_kept() -> None:
    recent: RecentReads[str, int] = RecentReads(timer=Clock())

    def fail() -> int:
        raise RuntimeError("API server unreachable")

    with pytest.raises(RuntimeError):
        recent.get("push", fail)
    assert recent.get("push", lambda: 7) == 7


def test_concurrent_callers_wait_for_one_read() -> None:
    recent: RecentReads[str, int] = RecentReads()
    reads = []

    def slow() -> int:
        reads.append(1)
        time.sleep(0.05)  # other threads arrive while this read is under way
        return 42

    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(recent.get("push", slow))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 8 and len(reads) == 1
