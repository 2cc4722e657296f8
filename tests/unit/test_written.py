"""Our own writes until the watch shows them (runtime/written.py): pure, no API."""

from __future__ import annotations

import threading

from mosb_controller.runtime.written import OwnWrites


def test_an_index_showing_any_version_we_wrote_over_is_behind() -> None:
    own = OwnWrites()
    own.wrote(("mosb", "w-1"), "10")  # status: 10 → 11
    own.wrote(("mosb", "w-1"), "11")  # annotations: 11 → 12, before either event arrived
    assert own.behind(("mosb", "w-1"), "10") and own.behind(("mosb", "w-1"), "11")
    assert not own.behind(("mosb", "w-1"), "12")  # the watch caught up
    assert not own.behind(("mosb", "other"), "10")


def test_what_we_wrote_is_the_truth_until_a_newer_version_is_seen() -> None:
    own = OwnWrites()
    own.wrote(("pool", "worker"), "5", "amd64,arm64")
    assert own.effective(("pool", "worker"), "5", "amd64") == "amd64,arm64"
    assert own.effective(("pool", "worker"), "7", "s390x") == "s390x"  # someone's newer write
    assert own.effective(("pool", "worker"), "5", "amd64") == "amd64"  # forgotten since


def test_entries_expire_when_no_event_ever_comes() -> None:
    own = OwnWrites(ttl=0)
    own.wrote(("mosb", "w-1"), "10")
    assert not own.behind(("mosb", "w-1"), "10")


def test_writes_from_threads_and_reads_stay_consistent() -> None:
    own = OwnWrites()

    def write(i: int) -> None:
        for n in range(200):
            own.wrote(("mosb", f"w-{i}"), str(n))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(own.behind(("mosb", f"w-{i}"), str(n)) for i in range(8) for n in range(200))
