"""alongside-mco: holding a pool's rollout while a release upgrade's rebuild runs. Pure.

A release upgrade changes the base image (the osimageurl ConfigMap) and the MCO renders
the new release's config with our MachineConfig's old `osImageURL`: without a hold, nodes
would reboot into that, then again for our new image. So while a build on a new base runs
for a pool whose published image is on an older base, the pool is paused, with an
annotation saying why and until when. The pause is lifted once the MachineConfig is seen
carrying the new base (published), or when the build fails (a Warning: the pool then
rolls out the release with our previous image).

Only a pause we set is ever lifted: ours carries the annotation, an admin's never does.
An admin who unpauses during our hold wins: we don't pause again for that build. The
state lives on the pool, so a restarted operator resumes where the last one stopped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from api import (
    BASE_IMAGE_ANNOTATION,
    PAUSED_BY_US_ANNOTATION,
    BuildProgress,
    EventReason,
    EventType,
    MachineConfig,
    MachineConfigPool,
    MachineOSBuildStatus,
    format_time,
)
from mosb_controller.planning.events import MOSC_KIND, EventSpec
from mosb_controller.planning.observed import Observed


@dataclass(frozen=True)
class PoolHold:
    """The pool write: `spec.paused` (None: leave it) and our annotation (None: remove)."""

    paused: bool | None
    note: str | None


def upgrading(published: MachineConfig | None, base: str) -> bool:
    """Is the image we published built on another base than the release's now?"""
    if published is None:
        return False  # nothing published yet: the first build changes nothing to hold
    return published.metadata.annotations.get(BASE_IMAGE_ANNOTATION) != base


def hold(
    obs: Observed, base: str, mosb: str, written: Mapping[str, MachineOSBuildStatus]
) -> tuple[PoolHold | None, list[EventSpec]]:
    """The pool write for the build `mosb` (its status as this pass writes it, else as
    seen; none: not created yet), and what to tell the MachineOSConfig."""
    assert obs.pool is not None
    seen = obs.mosbs.get(mosb)
    status = written.get(mosb) or (seen.status if seen is not None else None)
    state = status.state if status is not None else None
    return _hold(
        obs.mosc.name,
        obs.pool,
        obs.published,
        base,
        mosb,
        state,
        obs.now,
        obs.settings.pause_pools_on_upgrade,
    )


def _hold(
    mosc: str,
    pool: MachineConfigPool,
    published: MachineConfig | None,
    base: str,
    mosb: str,
    state: BuildProgress | None,
    now: dt.datetime,
    enabled: bool,
) -> tuple[PoolHold | None, list[EventSpec]]:
    ours = PAUSED_BY_US_ANNOTATION in pool.metadata.annotations
    paused = pool.spec.paused
    if upgrading(published, base) and state is BuildProgress.SUCCEEDED:
        return None, []  # held until the MachineConfig is seen carrying the new base
    if upgrading(published, base) and state is not None and state.terminal:
        if ours:  # the build failed or was interrupted: release with a warning
            message = (
                f"released pool {pool.name}: MachineOSBuild {mosb} ended {state.value}; "
                "the pool rolls out the new release with the previous image"
            )
            return PoolHold(False if paused else None, None), [
                EventSpec(
                    MOSC_KIND,
                    mosc,
                    EventType.WARNING,
                    EventReason.POOL_RELEASED_BUILD_FAILED,
                    message,
                )
            ]
        return None, []
    if upgrading(published, base):
        if ours or paused or not enabled:  # held already, or an admin's pause: leave it
            return None, []
        note = json.dumps(
            {
                "reason": f"release upgrade: rebuilding on {base}",
                "machineOSBuild": mosb,
                "since": format_time(now),
                "until": f"MachineOSBuild {mosb} is published or fails",
            },
            sort_keys=True,
        )
        message = f"paused pool {pool.name} until MachineOSBuild {mosb} is published or fails"
        return PoolHold(True, note), [
            EventSpec(
                MOSC_KIND, mosc, EventType.NORMAL, EventReason.POOL_PAUSED_FOR_REBUILD, message
            )
        ]
    if ours:  # published on the new base (or no longer upgrading): lift our pause
        message = f"released pool {pool.name}: its image is published"
        return PoolHold(False if paused else None, None), [
            EventSpec(MOSC_KIND, mosc, EventType.NORMAL, EventReason.POOL_RELEASED, message)
        ]
    return None, []
