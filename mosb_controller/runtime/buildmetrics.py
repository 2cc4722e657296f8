"""Per-MachineOSConfig build state as gauges, for alerts an admin can act on.

The counters in `metrics` say what happened; alerts need what *is*: which architecture of
a pool's current build failed, which has been running since when, and whether the image
the pool's MachineOSConfig publishes was built from the pool's current inputs. Each pass
of the build loop leaves a snapshot here (`build_state`), and the collector reads the
latest snapshots at scrape time, so a resolved failure or a deleted MachineOSConfig leaves
no stale series behind. Label values are bounded: MachineOSConfigs (one per pool), four
architectures, seven phases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api import ARCH_BUILDS_ANNOTATION, ArchBuildPhase, ArchBuildRecord, decode_arch_builds
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import Plan

# A build Job exists and has not ended: the time since its start is the build's age.
_UNFINISHED = (ArchBuildPhase.PENDING, ArchBuildPhase.BUILDING)


@dataclass(frozen=True)
class ArchState:
    phase: ArchBuildPhase
    start: dt.datetime | None  # set while its Job exists and has not ended


@dataclass(frozen=True)
class BuildState:
    pool: str
    arches: Mapping[str, ArchState]  # of the build the current inputs name
    outdated: bool | None  # the published image is not of the current inputs; None: unknown


def build_state(obs: Observed, plan: Plan) -> BuildState:
    """The state one pass leaves: the records as this pass writes them, else as observed."""
    records = _records(obs, plan)
    arches = {
        arch: ArchState(r.phase, r.start if r.phase in _UNFINISHED and r.job else None)
        for arch, r in sorted(records.items())
    }
    return BuildState(obs.mosc.spec.machine_config_pool.name, arches, _outdated(obs, plan))


def _records(obs: Observed, plan: Plan) -> Mapping[str, ArchBuildRecord]:
    name = plan.mosb_name
    if name is None:
        return {}
    written = plan.mosb_annotations.get(name, {}).get(ARCH_BUILDS_ANNOTATION)
    if written is None and plan.create_mosb is not None:
        written = plan.create_mosb.metadata.annotations.get(ARCH_BUILDS_ANNOTATION)
    if written is not None:
        return decode_arch_builds(written)
    view = obs.mosbs.get(name)
    return view.records if view is not None else {}


def _outdated(obs: Observed, plan: Plan) -> bool | None:
    """Is the published image not the one the pool's current inputs name?

    The MOSB name is a hash of the inputs, so with a plan the answer is exact. Under a
    refusal (no inputs to hash: a missing secret, a new architecture without a
    containerfile) the rendered config and the architecture set are compared, while the
    published build still exists."""
    status = obs.mosc.status
    published = status.machine_os_build.name if status and status.machine_os_build else None
    if plan.mosc_status is not None and plan.mosc_status.machine_os_build is not None:
        published = plan.mosc_status.machine_os_build.name  # this pass publishes
    if plan.mosb_name is not None:
        return published != plan.mosb_name
    if obs.pool is None:
        return None  # no pool, no config to be behind
    config = obs.pool.rendered_config_name
    if not config:
        return None
    if published is None:
        return True  # the pool has a config and no image was ever published for it
    view = obs.mosbs.get(published)
    if view is None or not view.rendered_config:
        return None
    arches = obs.pool_arches.architectures if obs.pool_arches else tuple(view.records)
    return view.rendered_config != config or set(view.records) != set(arches)


class BuildStates(Collector):
    """The latest snapshot per MachineOSConfig. Written by the build loop, read by scrapes
    on another thread: a write replaces the whole mapping, so a scrape never sees it half
    changed."""

    def __init__(self) -> None:
        self._states: Mapping[str, BuildState] = {}
        # Only the leader runs passes: a replica that lost the lease keeps its last
        # snapshots, which would go on saying "Failed" after the new leader retried.
        self.active: Callable[[], bool] = lambda: True

    def update(self, mosc: str, state: BuildState) -> None:
        if self._states.get(mosc) != state:
            self._states = {**self._states, mosc: state}

    def forget(self, mosc: str) -> None:
        if mosc in self._states:
            self._states = {k: v for k, v in self._states.items() if k != mosc}

    def collect(self) -> Iterator[Metric]:
        phase = GaugeMetricFamily(
            "mosb_arch_build_phase",
            "Phase of each architecture of the build the current inputs name: 1 for its "
            "phase, 0 for the others.",
            labels=["mosc", "pool", "arch", "phase"],
        )
        start = GaugeMetricFamily(
            "mosb_arch_build_start_timestamp_seconds",
            "When an unfinished build Job of an architecture started (absent once it ended).",
            labels=["mosc", "pool", "arch"],
        )
        outdated = GaugeMetricFamily(
            "mosb_published_image_outdated",
            "1 when the image the MachineOSConfig publishes was not built from the pool's "
            "current inputs (or none was published), 0 when it was.",
            labels=["mosc", "pool"],
        )
        states = self._states if self.active() else {}
        for mosc, state in sorted(states.items()):
            for arch, a in state.arches.items():
                for p in ArchBuildPhase:
                    phase.add_metric([mosc, state.pool, arch, p.value], float(a.phase is p))
                if a.start is not None:
                    start.add_metric([mosc, state.pool, arch], a.start.timestamp())
            if state.outdated is not None:
                outdated.add_metric([mosc, state.pool], float(state.outdated))
        yield phase
        yield start
        yield outdated
