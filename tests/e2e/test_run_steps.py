"""RUN steps for every architecture, end to end on the local heterogeneous cluster.

The base image is a real busybox userland per architecture (hack/build-bases.sh); the
node harness runs each build Job's own script, which builds with `--arch <its arch>` as
on a native node; on this machine the foreign CPUs are qemu-user binfmt handlers
(hack/binfmt.sh), standing in for the native hardware of those nodes. Where those are
missing the tests skip saying so (and fail in CI).
"""

from __future__ import annotations

import json
from typing import Any

from hack import bases, imagefiles
from hack.localcluster import ARCHES, LocalCluster
from tests.support.e2e import condition, digests, jobs_of_history, mosbs, succeeded, wait

RECORD = "FROM configs AS final\nRUN uname -m > /etc/mosb-machine"
NOT_ON_S390X = 'RUN test "$(uname -m)" != s390x'


def images(local: LocalCluster, mosb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return imagefiles.per_platform(
        local.registry, mosb["status"]["digestedImagePushSpec"], "/etc/mosb-machine"
    )


def test_each_architecture_runs_its_own_run_step(local: LocalCluster) -> None:
    local.add_pool("run-four", ARCHES)
    local.apply_mosc("run-four", [("NoArch", RECORD)])
    mosb = succeeded(local, "run-four")
    found = images(local, mosb)
    assert sorted(found) == sorted(ARCHES)
    for arch, image in found.items():
        assert image["platform"] == f"linux/{arch}"
        assert image["config_arch"] == arch
        assert image["content"] == bases.MACHINE[arch] + "\n", arch
    assert {a: i["digest"] for a, i in found.items()} == digests(mosb)


def test_a_step_failing_on_one_architecture_is_named_then_fixed_alone(
    local: LocalCluster,
) -> None:
    local.add_pool("run-s390x", ARCHES)
    local.apply_mosc("run-s390x", [("NoArch", f"{RECORD}\n{NOT_ON_S390X}")])
    name = wait(lambda: next(iter(mosbs(local, "run-s390x")), None))["metadata"]["name"]

    def failed() -> dict[str, Any] | None:
        mosb = local.get("machineosbuilds", name)
        if condition(mosb, "Succeeded") == "True":
            raise AssertionError("the build succeeded although s390x's step fails")
        return mosb if condition(mosb, "Failed") == "True" else None

    first = wait(failed, 240, "the MOSB failed")
    message = next(c for c in first["status"]["conditions"] if c["type"] == "Failed")["message"]
    assert "s390x" in message and NOT_ON_S390X in message, message

    def phases() -> dict[str, str]:  # the other builds go on after s390x failed
        mosb = local.get("machineosbuilds", name)
        records = json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-builds"])
        return {a: r["phase"] for a, r in records.items()}

    expected = {"amd64": "Succeeded", "arm64": "Succeeded", "ppc64le": "Succeeded",
                "s390x": "Failed"}  # fmt: skip
    wait(lambda: phases() == expected, 240, f"phases {expected}")

    # an S390X entry of its own: only s390x builds; the other three images are reused
    local.apply_mosc(
        "run-s390x",
        [("NoArch", f"{RECORD}\n{NOT_ON_S390X}"), ("S390X", f"{RECORD}\nLABEL own=s390x")],
    )

    def fixed() -> dict[str, Any] | None:  # the failed MOSB stays; wait for the new one
        others = [m for m in mosbs(local, "run-s390x") if m["metadata"]["name"] != name]
        if any(condition(m, "Failed") == "True" for m in others):
            raise AssertionError(json.dumps([m["status"] for m in others], indent=1))
        return next((m for m in others if condition(m, "Succeeded") == "True"), None)

    second = wait(fixed, 240, "the MOSB with the S390X entry succeeded")
    built = [p["metadata"]["annotations"]["mosb-controller.io/arch"]
             for p in jobs_of_history(local, second["metadata"]["name"])]  # fmt: skip
    assert built == ["s390x"]
    records = json.loads(second["metadata"]["annotations"]["mosb-controller.io/arch-builds"])
    for arch in ("amd64", "arm64", "ppc64le"):
        assert records[arch]["phase"] == "Reused" and records[arch]["reusedFrom"] == name
    found = images(local, second)
    assert {a: i["content"] for a, i in found.items()} == {
        a: bases.MACHINE[a] + "\n" for a in ARCHES
    }
    assert {a: i["config_arch"] for a, i in found.items()} == {a: a for a in ARCHES}
