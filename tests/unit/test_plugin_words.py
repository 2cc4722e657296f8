"""The plugin's pure parts: which group it acts on, and the status table's words."""

from __future__ import annotations

import datetime as dt

from api import GROUP, ArchBuildPhase, ArchBuildRecord
from mosb_controller.plugin.group import choose_group
from mosb_controller.plugin.render import duration, status_table

OURS = "machineconfiguration.mosb-controller.io"
T0 = dt.datetime(2026, 11, 29, 6, 0, tzinfo=dt.UTC)
DIGEST = "sha256:" + "ab" * 32


def test_ours_when_served_and_it_holds_the_mosc() -> None:
    assert choose_group([GROUP, OURS], lambda g: g == OURS) == OURS


def test_upstream_when_ours_lacks_the_mosc_or_is_not_served() -> None:
    assert choose_group([GROUP, OURS], lambda g: g == GROUP) == GROUP
    assert choose_group([GROUP], lambda g: True) == GROUP
    assert choose_group([], lambda g: False) == GROUP  # the caller then says "not found"


def test_ours_alone_is_asked_even_without_the_mosc() -> None:
    assert choose_group([OURS], lambda g: False) == OURS


def test_duration_runs_until_the_end_or_now() -> None:
    running = ArchBuildRecord(arch="arm64", key="k", phase=ArchBuildPhase.BUILDING, start=T0)
    assert duration(running, T0 + dt.timedelta(seconds=75)) == "1m15s"
    ended = running.model_copy(update={"end": T0 + dt.timedelta(seconds=9)})
    assert duration(ended, T0 + dt.timedelta(hours=1)) == "9s"
    assert duration(running.model_copy(update={"start": None}), T0) == "-"


def test_status_table_one_row_per_architecture() -> None:
    records = {
        "amd64": ArchBuildRecord(
            arch="amd64", key="k1", phase=ArchBuildPhase.REUSED, digest=DIGEST, reused_from="w-1"
        ),
        "arm64": ArchBuildRecord(arch="arm64", key="k2", phase=ArchBuildPhase.BUILDING, start=T0),
    }
    text = status_table(
        mosc="worker", group=GROUP, mosb="worker-2", state="Building", records=records,
        nodes={"arm64": "node-a"}, now=T0 + dt.timedelta(seconds=3),
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0].split() == ["MachineOSConfig", "worker", f"({GROUP})"]
    assert lines[1].split() == ["MachineOSBuild", "worker-2", "Building"]
    # reused: no node, no duration (no build ran)
    assert lines[4].split() == ["amd64", "Reused", "-", "sha256:abababababab", "w-1", "-"]
    assert lines[5].split() == ["arm64", "Building", "node-a", "-", "-", "3s"]


def test_failed_architecture_says_why_under_the_table() -> None:
    failed = ArchBuildRecord(
        arch="arm64", key="k", phase=ArchBuildPhase.FAILED, reason="BuildFailed",
        message="STEP 4/6: RUN make\nerror: exit status 2",
    )  # fmt: skip
    text = status_table(
        mosc="w", group=GROUP, mosb="w-1", state="Failed", records={"arm64": failed},
        nodes={}, now=T0,
    )  # fmt: skip
    assert text.splitlines()[-1] == "arm64: BuildFailed: error: exit status 2"
