"""What the end-to-end suites share: the MOSC entries they apply, and waiting on the
MachineOSBuilds the operator makes of them on the local cluster."""

from __future__ import annotations

import json
from typing import Any, cast

from api import MOSB_ANNOTATION as MOSB_OF
from api import ROLE_LABEL as ROLE
from hack.localcluster import LocalCluster
from tests.support.polling import eventually

# with a RUN step each architecture runs (tests/e2e/test_run_steps.py checks its output)
COMMON = (
    "FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.e2e.arch=$TARGETARCH\n"
    "RUN uname -m > /etc/mosb-e2e-machine"
)


def entries(arm: str = "LABEL io.mosb.e2e.arm=v1") -> list[tuple[str, str]]:
    return [("NoArch", COMMON), ("ARM64", f"{COMMON}\n{arm}")]


def wait(check: Any, timeout: float = 120, what: str = "") -> Any:
    """Poll; an AssertionError inside `check` fails at once (a build that failed)."""
    return eventually(check, timeout, 0.2, what=what, retry_on=())


def mosbs(local: LocalCluster, mosc: str) -> list[dict[str, Any]]:
    listed = cast(dict[str, Any], local.custom.list_cluster_custom_object(
        local.group("machineosbuilds"), "v1", "machineosbuilds",
        label_selector=f"machineconfiguration.openshift.io/machine-os-config={mosc}",
    ))  # fmt: skip
    return [m for m in listed["items"] if not m["metadata"].get("deletionTimestamp")]


def condition(mosb: dict[str, Any], type_: str) -> str | None:
    for c in (mosb.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return None


def succeeded(local: LocalCluster, mosc: str, other_than: str = "") -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        for m in mosbs(local, mosc):
            if m["metadata"]["name"] != other_than and condition(m, "Succeeded") == "True":
                return m
            if condition(m, "Failed") == "True":
                raise AssertionError(json.dumps(m["status"], indent=1))
        return None

    return cast(dict[str, Any], wait(done, 240, f"a succeeded MOSB of {mosc}"))


def digests(mosb: dict[str, Any]) -> dict[str, str]:
    return cast(
        dict[str, str],
        json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-digests"]),
    )


def build_pods(local: LocalCluster, mosb: str) -> dict[str, dict[str, Any]]:
    """arch → the build pod the harness ran for this MOSB (pods outlive their Jobs here)."""
    harness = local.harness
    assert harness is not None
    return {
        pod["metadata"]["annotations"]["mosb-controller.io/arch"]: pod
        for pod in harness.ran
        if pod["metadata"]["annotations"].get(MOSB_OF) == mosb
        and pod["metadata"]["labels"][ROLE] == "build"
    }


def jobs_of_history(local: LocalCluster, mosb: str) -> list[dict[str, Any]]:
    return list(build_pods(local, mosb).values())


def builder_fidelity(local: LocalCluster, pool: str, mosb: str, status: str, reason: str) -> None:
    """builder mode as upstream: the pool's ImageBuildDegraded has `status` and `reason`
    for build `mosb`, which carries the push-secret annotation upstream's pruner reads."""

    def shown() -> bool:
        conditions = local.get("machineconfigpools", pool).get("status", {}).get("conditions", [])
        found = [c for c in conditions if c["type"] == "ImageBuildDegraded"]
        return bool(found) and (found[0]["status"], found[0]["reason"]) == (status, reason)

    wait(shown, what=f"ImageBuildDegraded {status} {reason} on {pool}")
    annotations = local.get("machineosbuilds", mosb)["metadata"]["annotations"]
    assert annotations["machineconfiguration.openshift.io/rendered-image-push-secret"] == "push"
