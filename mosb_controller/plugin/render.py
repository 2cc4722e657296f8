"""The plugin's words: the per-architecture status table and one progress line a change.
Pure: `now` comes in from the caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from api import ArchBuildPhase, ArchBuildRecord

COLUMNS = ("ARCH", "PHASE", "NODE", "DIGEST", "REUSED FROM", "DURATION")
NONE = "-"


def duration(record: ArchBuildRecord, now: dt.datetime) -> str:
    """Start to end; start to now while it runs; "-" before it started, or when reused
    (the record's times then say when the reuse was decided, no build ran)."""
    if record.start is None or record.phase is ArchBuildPhase.REUSED:
        return NONE
    seconds = int(((record.end or now) - record.start).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def short_digest(digest: str | None) -> str:
    return digest[: len("sha256:") + 12] if digest else NONE


def status_table(
    *,
    mosc: str,
    group: str,
    mosb: str | None,
    state: str | None,
    records: Mapping[str, ArchBuildRecord],
    nodes: Mapping[str, str],
    now: dt.datetime,
) -> str:
    """The header (MOSC, its group, current MOSB and state), then a row per architecture."""
    head = [f"MachineOSConfig  {mosc}  ({group})"]
    if mosb is None:
        return "\n".join([*head, "MachineOSBuild   none yet"]) + "\n"
    head.append(f"MachineOSBuild   {mosb}  {state or 'no state yet'}")
    rows = [COLUMNS] + [
        (
            arch,
            r.phase.value,
            nodes.get(arch, NONE),
            short_digest(r.digest),
            r.reused_from or NONE,
            duration(r, now),
        )
        for arch, r in sorted(records.items())
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join([*head, "", *lines, *_why_failed(records)]) + "\n"


def _why_failed(records: Mapping[str, ArchBuildRecord]) -> list[str]:
    """What the record says of each failed or interrupted architecture (the cause, with
    the build's last log line), so the table answers "why" before `logs` is needed."""
    lines = []
    for arch, r in sorted(records.items()):
        if r.phase in (ArchBuildPhase.FAILED, ArchBuildPhase.INTERRUPTED):
            last = (r.message or "").strip().splitlines()[-1:] or ["no message"]
            lines.append(f"{arch}: {r.reason or r.phase.value}: {last[0]}")
    return ["", *lines] if lines else []


def progress_line(
    mosb: str, state: str | None, records: Mapping[str, ArchBuildRecord], clock: str
) -> str:
    """`[12:00:01] worker-1a2b  Building  amd64 Succeeded, arm64 Building, …`"""
    archs = ", ".join(f"{a} {r.phase.value}" for a, r in sorted(records.items()))
    return f"[{clock}] {mosb}  {state or 'waiting'}  {archs or 'no architectures yet'}"
