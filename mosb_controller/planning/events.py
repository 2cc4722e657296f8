"""The events a plan posts: one per architecture transition and per build state, so
`kubectl describe machineosbuild` tells the story. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api import ArchBuildPhase, ArchBuildRecord, BuildProgress, EventReason, EventType
from mosb_controller.planning.arch_state import describe

MOSB_KIND = "MachineOSBuild"
MOSC_KIND = "MachineOSConfig"


@dataclass(frozen=True)
class EventSpec:
    kind: str  # MOSB_KIND | MOSC_KIND
    name: str
    type: EventType
    reason: EventReason
    message: str
    arch: str | None = None  # a per-architecture transition's architecture

    def involved(self, uid: str | None, api_version: str) -> dict[str, Any]:
        """The event's involvedObject. `kubectl describe` finds events by the object's
        uid too: always send it."""
        meta = {"name": self.name, "uid": uid}
        return {"apiVersion": api_version, "kind": self.kind, "metadata": meta}


_ARCH_EVENTS = {
    ArchBuildPhase.PENDING: (EventType.NORMAL, EventReason.ARCH_BUILD_PENDING),
    ArchBuildPhase.WAITING: (EventType.WARNING, EventReason.ARCH_BUILD_WAITING),
    ArchBuildPhase.BUILDING: (EventType.NORMAL, EventReason.ARCH_BUILD_STARTED),
    ArchBuildPhase.SUCCEEDED: (EventType.NORMAL, EventReason.ARCH_BUILD_SUCCEEDED),
    ArchBuildPhase.FAILED: (EventType.WARNING, EventReason.ARCH_BUILD_FAILED),
    ArchBuildPhase.INTERRUPTED: (EventType.WARNING, EventReason.ARCH_BUILD_INTERRUPTED),
    ArchBuildPhase.REUSED: (EventType.NORMAL, EventReason.ARCH_BUILD_REUSED),
}

_STATE_EVENTS = {
    BuildProgress.PREPARED: (EventType.NORMAL, EventReason.BUILD_PREPARED),
    BuildProgress.BUILDING: (EventType.NORMAL, EventReason.BUILD_STARTED),
    BuildProgress.SUCCEEDED: (EventType.NORMAL, EventReason.BUILD_SUCCEEDED),
    BuildProgress.FAILED: (EventType.WARNING, EventReason.BUILD_FAILED),
    BuildProgress.INTERRUPTED: (EventType.WARNING, EventReason.BUILD_INTERRUPTED),
}


def arch_event(mosb: str, record: ArchBuildRecord) -> EventSpec:
    type_, reason = _ARCH_EVENTS[record.phase]
    return EventSpec(MOSB_KIND, mosb, type_, reason, describe(record), record.arch)


def state_event(mosb: str, state: BuildProgress, message: str) -> EventSpec:
    type_, reason = _STATE_EVENTS[state]
    return EventSpec(MOSB_KIND, mosb, type_, reason, message)


def build_created(mosc: str, mosb: str, records: Mapping[str, ArchBuildRecord]) -> EventSpec:
    reused = [a for a, r in records.items() if r.phase is ArchBuildPhase.REUSED]
    building = [a for a in records if a not in reused]
    message = f"MachineOSBuild {mosb}: building {', '.join(building) or 'nothing'}"
    if reused:
        message += f"; reusing {', '.join(reused)}"
    return EventSpec(MOSC_KIND, mosc, EventType.NORMAL, EventReason.BUILD_CREATED, message)
