"""The main job end to end on the local heterogeneous cluster: the real scheduler binds
each build pod to a kwok node of its architecture, the node harness runs the Job's own
scripts with buildah/skopeo against the real registry, the push Job joins the images."""

from __future__ import annotations

import json
from typing import Any

from api import MOSB_ANNOTATION, ROLE_LABEL
from hack import fakenodes
from hack.localcluster import ARCHES, LocalCluster
from tests.support.e2e import (
    build_pods,
    builder_fidelity,
    condition,
    digests,
    entries,
    jobs_of_history,
    mosbs,
    succeeded,
    wait,
)

ROLE = ROLE_LABEL
MOSB_OF = MOSB_ANNOTATION


def jobs_of(local: LocalCluster, mosb: str, role: str = "build") -> dict[str, dict[str, Any]]:
    found = {}
    for job in local.batch.list_namespaced_job("mosb-controller").items:
        data = local.client.sanitize_for_serialization(job)
        meta = data["metadata"]
        if meta.get("annotations", {}).get(MOSB_OF) == mosb and meta["labels"][ROLE] == role:
            found[meta["name"]] = data
    return found


def settle(local: LocalCluster, mosc: str) -> None:
    """Wait until the operator processed every earlier change of `mosc` (see test_builds)."""
    local.custom.patch_cluster_custom_object(
        "machineconfiguration.openshift.io", "v1", "machineosconfigs", mosc,
        {"metadata": {"annotations": {"mosb-controller.io/retry-failed": ""}}},
    )  # fmt: skip

    def served() -> bool:
        annotations = local.get("machineosconfigs", mosc)["metadata"].get("annotations") or {}
        return "mosb-controller.io/retry-failed" not in annotations

    wait(served)


def test_four_architectures_built_natively_and_published(local: LocalCluster) -> None:
    local.add_pool("e2e-four", ARCHES)
    local.apply_mosc("e2e-four", entries())
    mosb = succeeded(local, "e2e-four")
    name = mosb["metadata"]["name"]
    for arch, pod in build_pods(local, name).items():  # each pod on a node of its arch
        node = local.core.read_node(pod["spec"]["nodeName"])
        assert node.metadata is not None
        assert (node.metadata.labels or {})["kubernetes.io/arch"] == arch
    spec = mosb["status"]["digestedImagePushSpec"]
    platforms = local.platforms(spec)
    assert sorted(p for p, _ in platforms) == sorted(f"linux/{a}" for a in ARCHES)
    assert {p.split("/")[1]: d for p, d in platforms} == digests(mosb)
    mosc = local.get("machineosconfigs", "e2e-four")
    assert mosc["status"]["currentImagePullSpec"] == spec
    builder_fidelity(local, "e2e-four", name, "False", "BuildSuccess")

    # 2. reordering the containerFile entries builds nothing
    local.apply_mosc("e2e-four", list(reversed(entries())))
    settle(local, "e2e-four")
    assert [m["metadata"]["name"] for m in mosbs(local, "e2e-four")] == [name]

    # 3. changing only ARM64 builds only arm64; the others keep their digests
    local.apply_mosc("e2e-four", entries("LABEL io.mosb.e2e.arm=v2"))
    second = succeeded(local, "e2e-four", other_than=name)
    assert [j["metadata"]["annotations"]["mosb-controller.io/arch"]
            for j in jobs_of_history(local, second["metadata"]["name"])] == ["arm64"]  # fmt: skip
    before, after = digests(mosb), digests(second)
    assert {a: after[a] for a in ("amd64", "ppc64le", "s390x")} == {
        a: before[a] for a in ("amd64", "ppc64le", "s390x")
    }
    assert after["arm64"] != before["arm64"]


def test_added_architecture_builds_only_itself(local: LocalCluster) -> None:
    local.add_pool("e2e-grow", ("amd64", "arm64"))
    local.apply_mosc("e2e-grow", entries())
    first = succeeded(local, "e2e-grow")
    assert sorted(digests(first)) == ["amd64", "arm64"]
    fakenodes.add_nodes(local.plane.kubeconfig, ["s390x"], 1, {"pool": "e2e-grow"}, "e2e-grow-more")

    def recorded() -> bool:
        annotations = local.get("machineconfigpools", "e2e-grow")["metadata"].get("annotations")
        return (annotations or {}).get("mosb-controller.io/architectures") == "amd64,arm64,s390x"

    wait(recorded)
    second = succeeded(local, "e2e-grow", other_than=first["metadata"]["name"])
    built = [p["metadata"]["annotations"]["mosb-controller.io/arch"]
             for p in jobs_of_history(local, second["metadata"]["name"])]  # fmt: skip
    assert built == ["s390x"]
    platforms = local.platforms(second["status"]["digestedImagePushSpec"])
    assert sorted(p for p, _ in platforms) == ["linux/amd64", "linux/arm64", "linux/s390x"]


def test_failed_arch_is_named_and_retried_alone(local: LocalCluster) -> None:
    harness = local.harness
    assert harness is not None
    local.add_pool("e2e-fail", ARCHES)
    harness.fail_next[r"e2e-fail-[0-9a-f]+-arm64-"] = "error: a step failed\nRUN make: 2"
    local.apply_mosc("e2e-fail", entries())
    name = wait(lambda: next(iter(mosbs(local, "e2e-fail")), None))["metadata"]["name"]

    def first_attempt_done() -> bool:
        pods = jobs_of_history(local, name)
        return len(pods) == 4 and all(p["metadata"]["name"] in harness.outcomes for p in pods)

    wait(first_attempt_done, 240, "the four first builds")
    failed = wait(lambda: condition(local.get("machineosbuilds", name), "Failed") == "True"
                  and local.get("machineosbuilds", name))  # fmt: skip
    message = next(c for c in failed["status"]["conditions"] if c["type"] == "Failed")["message"]
    assert "arm64" in message and "RUN make: 2" in message
    builder_fidelity(local, "e2e-fail", name, "True", "BuildFailed")
    harness.fail_next.clear()
    attempted, uid = len(harness.ran), failed["metadata"]["uid"]
    local.custom.patch_cluster_custom_object(
        "machineconfiguration.openshift.io", "v1", "machineosconfigs", "e2e-fail",
        {"metadata": {"annotations": {"mosb-controller.io/retry-failed": ""}}},
    )  # fmt: skip

    def retried() -> dict[str, Any] | None:  # the same name (same inputs), a new object
        mosb = next((m for m in mosbs(local, "e2e-fail") if m["metadata"]["uid"] != uid), None)
        return mosb if mosb and condition(mosb, "Succeeded") == "True" else None

    assert wait(retried, 240)["metadata"]["name"] == name
    again = [p for p in harness.ran[attempted:] if p["metadata"]["labels"][ROLE] == "build"]
    assert [p["metadata"]["annotations"]["mosb-controller.io/arch"] for p in again] == ["arm64"]


def test_deleted_job_interrupts_and_rebuild_builds_everything(local: LocalCluster) -> None:
    harness = local.harness
    assert harness is not None
    local.add_pool("e2e-stop", ARCHES)
    harness.hold.add("e2e-stop-")
    local.apply_mosc("e2e-stop", entries())
    mosb = wait(lambda: next(iter(mosbs(local, "e2e-stop")), None))
    name = mosb["metadata"]["name"]

    def ppc64le_job() -> str | None:
        for job_name, job in jobs_of(local, name).items():
            if job["metadata"]["annotations"]["mosb-controller.io/arch"] == "ppc64le":
                return job_name
        return None

    job = wait(ppc64le_job)
    local.batch.delete_namespaced_job(job, "mosb-controller", propagation_policy="Background")
    wait(lambda: condition(local.get("machineosbuilds", name), "Interrupted") == "True")
    builder_fidelity(local, "e2e-stop", name, "False", "BuildInterrupted")  # not Failed
    harness.hold.clear()
    uid = local.get("machineosbuilds", name)["metadata"]["uid"]
    local.custom.patch_cluster_custom_object(
        "machineconfiguration.openshift.io", "v1", "machineosconfigs", "e2e-stop",
        {"metadata": {"annotations": {"machineconfiguration.openshift.io/rebuild": ""}}},
    )  # fmt: skip
    rebuilt = wait(lambda: next((m for m in mosbs(local, "e2e-stop") if m["metadata"]["uid"] != uid
                                 and condition(m, "Succeeded") == "True"), None), 240)  # fmt: skip
    records = json.loads(rebuilt["metadata"]["annotations"]["mosb-controller.io/arch-builds"])
    assert {r["phase"] for r in records.values()} == {"Succeeded"}  # built again, none reused
