"""The plugin's commands over one MachineOSConfig: status, rebuild / retry-failed (and
following the build until it settles), logs of one architecture's build."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import (
    ARCH_BUILDS_ANNOTATION,
    CURRENT_MACHINE_OS_BUILD_ANNOTATION,
    ArchBuildPhase,
    ArchBuildRecord,
    BuildProgress,
    MachineOSBuildStatus,
    decode_arch_builds,
)
from mosb_controller.cluster.operate import BuildPod, Operate
from mosb_controller.planning.objects import build_job_name
from mosb_controller.plugin import render
from mosb_controller.plugin.group import choose_group


class PluginError(Exception):
    """Said on stderr; the command exits non-zero."""


@dataclass(frozen=True)
class Current:
    """The MachineOSConfig's current build as the plugin shows it."""

    mosc: dict[str, Any]
    mosb_name: str | None
    mosb: dict[str, Any] | None
    state: BuildProgress | None
    records: dict[str, ArchBuildRecord]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Target:
    """One MachineOSConfig in the group that serves it (see group.choose_group)."""

    def __init__(self, ops: Operate, mosc: str | None, group: str | None) -> None:
        self.ops = ops
        if group is None:
            served = ops.groups_serving_mosc()
            # Unnamed, "holds the MachineOSConfig" means holds any.
            holds: Callable[[str], bool] = (
                (lambda g: bool(ops.mosc_names(g)))
                if mosc is None
                else (lambda g: ops.mosc(g, mosc) is not None)
            )
            group = choose_group(served, holds)
        self.group = group
        self.name = mosc if mosc is not None else self._only_one()

    def _only_one(self) -> str:
        names = self.ops.mosc_names(self.group)
        if len(names) == 1:
            return names[0]
        if not names:
            raise PluginError(f"no MachineOSConfig in {self.group}")
        raise PluginError(f"several MachineOSConfigs ({', '.join(names)}): name one")

    def current(self) -> Current:
        mosc = self.ops.mosc(self.group, self.name)
        if mosc is None:
            raise PluginError(f"MachineOSConfig {self.name} not found in {self.group}")
        annotations = mosc["metadata"].get("annotations") or {}
        name = annotations.get(CURRENT_MACHINE_OS_BUILD_ANNOTATION)
        mosb = self.ops.mosb(self.group, name) if name else None
        if mosb is None:
            return Current(mosc, name, None, None, {})
        status = MachineOSBuildStatus.from_k8s(mosb.get("status") or {})
        records = decode_arch_builds((mosb["metadata"].get("annotations") or {}).get(
            ARCH_BUILDS_ANNOTATION
        ))  # fmt: skip
        return Current(mosc, name, mosb, status.state, records)


def _latest_pod(pods: list[BuildPod]) -> BuildPod | None:
    placed = [p for p in pods if p.node]
    return max(placed, key=lambda p: p.created) if placed else None


def nodes_of(ops: Operate, current: Current) -> dict[str, str]:
    """arch → the node its build pod runs (ran) on, while the pod exists."""
    if current.mosb_name is None:
        return {}
    pods = ops.build_pods()
    found = {}
    for arch, record in current.records.items():
        pod = _latest_pod(pods.get(record.job or build_job_name(current.mosb_name, arch), []))
        if pod is not None and pod.node:
            found[arch] = pod.node
    return found


def status(target: Target) -> str:
    current = target.current()
    state = current.state.value if current.state else None
    return render.status_table(
        mosc=target.name,
        group=target.group,
        mosb=current.mosb_name if current.mosb is not None else None,
        state=state,
        records=current.records,
        nodes=nodes_of(target.ops, current),
        now=now(),
    )


def request(target: Target, annotation: str) -> None:
    target.current()  # says so if the MachineOSConfig is missing
    target.ops.annotate_mosc(target.group, target.name, annotation)
    print(f"machineosconfig/{target.name} annotated {annotation}")


def follow(
    target: Target,
    annotation: str,
    timeout: float,
    say: Callable[[str], None] = print,
    interval: float = 1.0,
) -> BuildProgress:
    """Until the operator took the request off the MachineOSConfig and the current build
    is finished; a line each time the build or an architecture changes. Before the request
    is served the current build may still be the old, finished one: it does not count."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        current = target.current()
        served = annotation not in (current.mosc["metadata"].get("annotations") or {})
        state = current.state.value if current.state else None
        if current.mosb_name is not None:
            line = render.progress_line(current.mosb_name, state, current.records, "")
            if line != last:
                clock = now().strftime("%H:%M:%S")
                say(render.progress_line(current.mosb_name, state, current.records, clock))
                last = line
        if served and current.state is not None and current.state.terminal:
            return current.state
        if time.monotonic() > deadline:
            raise PluginError(f"still not finished after {timeout:.0f}s (the build goes on)")
        time.sleep(interval)


def logs(target: Target, arch: str) -> str:
    current = target.current()
    if current.mosb_name is None or current.mosb is None:
        raise PluginError(f"MachineOSConfig {target.name} has no current build")
    record = current.records.get(arch)
    if record is None:
        known = ", ".join(sorted(current.records)) or "none yet"
        raise PluginError(f"{current.mosb_name} has no {arch} build (architectures: {known})")
    if record.phase is ArchBuildPhase.REUSED:
        raise PluginError(
            f"{arch} was not built by {current.mosb_name}: it reuses the image of "
            f"{record.reused_from} (`kubectl mosb logs` shows only a build that ran)"
        )
    job = record.job or build_job_name(current.mosb_name, arch)
    pod = _latest_pod(target.ops.build_pods().get(job, []))
    if pod is None:
        if not target.ops.job_exists(job):
            raise PluginError(
                f"the {arch} build Job {job} is gone, and its log with it: the operator "
                f"deletes a build's Jobs once it succeeded ({arch}: {record.phase.value}"
                f"{', ' + record.digest if record.digest else ''})"
            )
        raise PluginError(f"the {arch} build Job {job} has no pod on a node yet")
    print(f"# {arch} build of {current.mosb_name}: pod {pod.name} on {pod.node}", file=sys.stderr)
    return target.ops.pod_log(pod.name)
