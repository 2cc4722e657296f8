"""The kubectl plugin (`kubectl-mosb`, installed with the package) driven as an admin
would, against the local cluster: the status of a four-architecture build while it runs,
retry-failed after one architecture failed, and one architecture's build log read
through the API server (the node harness serves it as a kubelet does)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from api import MOSB_ANNOTATION, ROLE_LABEL
from hack.localcluster import ARCHES, LocalCluster
from tests.support.e2e import condition, entries, mosbs, wait

PLUGIN = Path(sys.executable).parent / "kubectl-mosb"
MOSC = "e2e-plugin"


def plugin(local: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLUGIN), *args], env=_env(local), capture_output=True, text=True, timeout=300
    )


def _env(local: LocalCluster) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(local.plane.kubeconfig)}


def rows(table: str) -> dict[str, list[str]]:
    """arch → the row's columns (ARCH PHASE NODE DIGEST REUSED-FROM DURATION)."""
    return {
        cols[0]: cols for line in table.splitlines() if (cols := line.split()) and cols[0] in ARCHES
    }


def test_status_retry_failed_and_logs(local: LocalCluster) -> None:
    harness = local.harness
    assert harness is not None
    local.add_pool(MOSC, ARCHES)
    harness.hold.add(f"{MOSC}-")
    harness.fail_next[rf"{MOSC}-[0-9a-f]+-arm64-"] = "error: a step failed\nRUN make: 2"
    local.apply_mosc(MOSC, entries())
    wait(lambda: len(harness.running(f"{MOSC}-")) == 4, 120, "four build pods running")

    # 1. status while the four builds run: each on a node of its own architecture
    shown = plugin(local, "status", MOSC)
    assert shown.returncode == 0, shown.stderr
    table = rows(shown.stdout)
    assert sorted(table) == sorted(ARCHES), shown.stdout
    for arch, cols in table.items():
        assert cols[1] == "Building", shown.stdout
        # a node of that architecture (the session's kwok nodes are <pool>-<arch>-<n>)
        assert f"-{arch}-" in cols[2], shown.stdout
    assert re.search(r"MachineOSBuild\s+e2e-plugin-[0-9a-f]+\s+Building", shown.stdout)

    planned = plugin(local, "plan", MOSC)  # the dry run agrees: nothing new, four running
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.count("in progress") == 4, planned.stdout

    # 2. arm64 fails, the others succeed
    harness.hold.clear()
    name = mosbs(local, MOSC)[0]["metadata"]["name"]
    wait(lambda: condition(local.get("machineosbuilds", name), "Failed") == "True", 240)

    def others_done() -> bool:  # the build is Failed at arm64's failure; the rest finish
        shown = rows(plugin(local, "status", MOSC).stdout)
        return all(shown[a][1] != "Building" for a in ("amd64", "ppc64le", "s390x"))

    wait(others_done, 120, "the other three builds to finish")
    after = plugin(local, "status", MOSC).stdout
    failed = rows(after)
    assert failed["arm64"][1] == "Failed"
    assert after.rstrip().splitlines()[-1].endswith("RUN make: 2"), after  # the cause, named
    assert {failed[a][1] for a in ("amd64", "ppc64le", "s390x")} == {"Succeeded"}

    # 3. retry-failed rebuilds only arm64 and follows it until Succeeded; meanwhile the
    # arm64 build (held Running after its command, its log written) shows its log
    harness.fail_next.clear()
    arm64 = rf"{MOSC}-[0-9a-f]+-arm64-"
    harness.hold_after.add(arm64)
    attempted = len(harness.ran)
    retry = subprocess.Popen(
        [str(PLUGIN), "retry-failed", MOSC],
        env=_env(local),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait(lambda: any(re.match(arm64, p) for p in harness.held_after), 240, "arm64 rebuilt")
        log = plugin(local, "logs", "arm64", MOSC)
        assert log.returncode == 0, log.stderr
        # buildah's own output of that build: its steps, and the RUN step that ran on arm64
        assert "STEP" in log.stdout and "uname -m" in log.stdout, log.stdout
        assert "arm64 build of" in log.stderr
        harness.hold_after.clear()
        out, err = retry.communicate(timeout=240)
    finally:
        harness.hold_after.clear()
        retry.kill()
    assert retry.returncode == 0, out + err
    assert out.rstrip().endswith(f"{MOSC}: Succeeded"), out
    assert "arm64 Building" in out, out
    again = [p for p in harness.ran[attempted:] if p["metadata"]["labels"][ROLE_LABEL] == "build"]
    assert [p["metadata"]["annotations"][MOSB_ANNOTATION] for p in again] == [name]
    assert [p["metadata"]["annotations"]["mosb-controller.io/arch"] for p in again] == ["arm64"]

    # 4. once succeeded, the operator deleted the Jobs: logs says so and fails
    gone = plugin(local, "logs", "arm64", MOSC)
    assert gone.returncode != 0
    assert "is gone" in gone.stderr and "succeeded" in gone.stderr, gone.stderr
