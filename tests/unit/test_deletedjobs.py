"""DeletedJobs: what the watch saw deleted, by owner, for an hour."""

from __future__ import annotations

import datetime as dt

from mosb_controller.runtime.deletedjobs import DeletedJobs

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def test_a_pass_reads_its_own_mosbs_deletions_only() -> None:
    deleted = DeletedJobs()
    deleted.seen("a-amd64", "uid-a", T0)
    deleted.seen("b-arm64", "uid-b", T0)
    assert deleted.of(["uid-a"]) == {("a-amd64", "uid-a")}
    assert deleted.of(["uid-a", "uid-b"]) == {("a-amd64", "uid-a"), ("b-arm64", "uid-b")}
    assert deleted.of(["uid-c"]) == frozenset()


def test_deletions_are_forgotten_after_an_hour_unless_seen_again() -> None:
    deleted = DeletedJobs()
    deleted.seen("a-amd64", "uid-a", T0)
    deleted.seen("a-arm64", "uid-a", T0 + dt.timedelta(minutes=30))
    deleted.seen("a-amd64", "uid-a", T0 + dt.timedelta(minutes=50))  # a recreated Job, again
    deleted.seen("b-arm64", "uid-b", T0 + dt.timedelta(minutes=61))
    # a-amd64's first sighting is past the hour, its second is not: it is still known.
    assert deleted.of(["uid-a"]) == {("a-amd64", "uid-a"), ("a-arm64", "uid-a")}
    deleted.seen("b-s390x", "uid-b", T0 + dt.timedelta(minutes=111))
    assert deleted.of(["uid-a"]) == frozenset()
    assert deleted.of(["uid-b"]) == {("b-arm64", "uid-b"), ("b-s390x", "uid-b")}
