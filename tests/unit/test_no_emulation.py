"""Production never emulates a CPU: each architecture builds natively on a node of its own.

The local cluster runs foreign-architecture RUN steps through qemu-user binfmt
(hack/binfmt.sh, a stand-in for native nodes); that must stay a property of the machine
the harness runs on, never something the operator asks for. So no Job, inputs ConfigMap
or script the operator renders may name `--platform`, qemu or binfmt. The build selects
its architecture with `buildah bud --arch "$MOSB_ARCH"`, which on a native node is the
host's own.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest

from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.plan import plan_mosc
from tests.support.builds import created, finish_builds, progress, started
from tests.support.factories import ARCHES, mosc, observed

EMULATION = re.compile(r"--platform|qemu|binfmt", re.IGNORECASE)
RUN_STEPS = [
    ("NoArch", 'FROM configs AS final\nRUN uname -m > /etc/machine\nRUN test "$(uname -m)" != x'),
    ("S390X", "FROM configs AS final\nRUN uname -m > /etc/machine"),
]


def rendered() -> dict[str, Any]:
    """Every object the planner renders for a 4-architecture build with RUN steps: the
    build Jobs, the inputs ConfigMap, then the push Job."""
    obs = observed(mosc=mosc(RUN_STEPS))
    _, mosb = created(obs)
    first = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    mosb, jobs = started(obs)
    mosb, pods = finish_builds(obs, mosb, jobs)
    push = progress(obs, mosb, jobs, pods).create_jobs
    assert len(first.create_jobs) == len(ARCHES) and len(push) == 1
    return {
        "build jobs": first.create_jobs,
        "inputs configmap": first.create_configmaps,
        "push job": push,
    }


@pytest.mark.parametrize("what", ["build jobs", "inputs configmap", "push job"])
def test_rendered_objects_never_ask_for_emulation(what: str) -> None:
    text = json.dumps(rendered()[what])
    assert "RUN uname -m" in text or what != "inputs configmap"  # the content is there
    assert EMULATION.findall(text) == []


@pytest.mark.parametrize("script", sorted(jobspec.script_files()))
def test_scripts_never_ask_for_emulation(script: str) -> None:
    assert EMULATION.findall(jobspec.script_files()[script]) == []


def test_the_build_names_its_own_architecture_only() -> None:
    """`--arch` with the Job's architecture is how a build picks its base variant: on a
    node of that architecture it is the host's own, so nothing is emulated."""
    code = [ln for ln in jobspec.script_files()["build.sh"].splitlines() if not ln.startswith("#")]
    assert re.findall(r"--arch \S+", "\n".join(code)) == ['--arch "$arch"']
