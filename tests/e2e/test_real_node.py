"""Scenario 1 with a real node: the pinned kubelet with containerd (hack/realnode.py) runs
the amd64 build pod and the push pod in containers of the builder image built here from
Debian packages, under the Job's own securityContext; kwok's nodes and the harness run the
other architectures. Nothing in the Jobs knows: the scheduler places the pods (the real
node is this cluster's only amd64 node, and the others prefer not to take pods without a
preference such as the push pod).

Its own control plane: the session's cluster has kwok amd64 nodes of other modules, where
the scheduler could place an amd64 build. In CI a machine that lacks a part of the node
fails the run; elsewhere the tests skip saying what is missing.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import MOSB_ANNOTATION, ROLE_LABEL
from hack import bases, kube_paths, localcluster, operatorimage, realnode
from hack.localcluster import ARCHES, CA_CONFIGMAP, NAMESPACE, LocalCluster
from hack.registry import missing_tools
from tests.support.e2e import condition, digests, entries, mosbs, succeeded, wait
from tests.support.podwatch import PodWatch
from tests.support.polling import require

ARCH = "mosb-controller.io/arch"
POOL = "real-four"
OPERATOR_SELECTOR = "app.kubernetes.io/name=mosb-controller"
OPERATOR_ARGS = ["--build-backoff-limit=0", "--no-node-timeout-seconds=60"]


@pytest.fixture(scope="module")
def real() -> Iterator[LocalCluster]:
    require(realnode.missing(), realnode.SETUP_HINT)
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)
    with localcluster.running(OPERATOR_ARGS, real_node=True) as local:
        yield local
        print(f"real node's logs: {local.workdir / 'realnode'}")


@pytest.fixture(scope="module")
def pods(real: LocalCluster) -> Iterator[PodWatch]:
    with PodWatch(real.client, NAMESPACE) as watch:
        yield watch


def _pod_of(pods: PodWatch, mosb: str, role: str, arch: str | None = None) -> dict[str, Any]:
    for name in pods.pods(MOSB_ANNOTATION, mosb):
        meta = pods.last(name)["metadata"]
        if meta["labels"][ROLE_LABEL] == role and meta["annotations"].get(ARCH) == arch:
            return pods.last(name)
    raise AssertionError(f"no {role} pod {arch or ''} of {mosb} seen")


def _kubectl(local: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={local.plane.kubeconfig}", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _ran_in_container(pod: dict[str, Any], node: str) -> dict[str, Any]:
    """The pod ran on `node` in a containerd container: what its kubelet reported."""
    assert pod["spec"]["nodeName"] == node
    (status,) = pod["status"]["containerStatuses"]
    assert status["containerID"].startswith("containerd://"), status
    assert status["imageID"], status
    return dict(status["state"]["terminated"])


def test_scenario_one_amd64_build_and_push_on_the_real_node(
    real: LocalCluster, pods: PodWatch
) -> None:
    harness, node = real.harness, real.node
    assert harness is not None and node is not None
    # arm64 held Running in the harness: the build can't finish, so the amd64 Job and its
    # finished pod stay for `kubectl logs job/…` (the operator deletes Jobs on success).
    held = rf"{POOL}-[0-9a-f]+-arm64-"
    harness.hold.add(held)
    try:
        real.add_pool(POOL, ARCHES)
        real.apply_mosc(POOL, entries())
        mosb = wait(lambda: next(iter(mosbs(real, POOL)), None))["metadata"]["name"]
        amd64 = wait(lambda: _done(pods, mosb, "amd64"), 240, "the amd64 build pod finished")
        job = amd64["metadata"]["labels"]["job-name"]
        logs = _kubectl(real, "-n", NAMESPACE, "logs", f"job/{job}")
        assert logs.returncode == 0, logs.stderr
        # buildah's own output, from containerd's log file through the kubelet
        assert "STEP" in logs.stdout and "uname -m" in logs.stdout, logs.stdout
        assert "build.sh running as user root" in logs.stdout, logs.stdout
    finally:
        harness.hold.discard(held)
    built = succeeded(real, POOL)
    assert built["metadata"]["name"] == mosb

    terminated = _ran_in_container(amd64, node.name)
    assert pods.phases(amd64["metadata"]["name"])[-2:] == ["Running", "Succeeded"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    # build.sh's result file is the container's /dev/termination-log: the kubelet read it
    assert terminated["message"] == digests(built)["amd64"]
    push = _pod_of(pods, mosb, "push")
    wait(lambda: pods.last(push["metadata"]["name"])["status"]["phase"] == "Succeeded")
    _ran_in_container(pods.last(push["metadata"]["name"]), node.name)
    # the harness ran the others and nothing on the real node
    assert {p["spec"]["nodeName"] for p in harness.ran}.isdisjoint({node.name})
    assert sorted(p["metadata"]["annotations"][ARCH] for p in harness.ran) == [
        "arm64", "ppc64le", "s390x",
    ]  # fmt: skip
    platforms = real.platforms(built["status"]["digestedImagePushSpec"])
    assert sorted(p for p, _ in platforms) == sorted(f"linux/{a}" for a in ARCHES)
    assert {p.split("/")[1]: d for p, d in platforms} == digests(built)


def _done(pods: PodWatch, mosb: str, arch: str) -> dict[str, Any] | None:
    try:
        pod = _pod_of(pods, mosb, "build", arch)
    except AssertionError:
        return None
    return pod if pod["status"].get("phase") in {"Succeeded", "Failed"} else None


def test_builder_image_without_buildah_fails_naming_the_cause(
    real: LocalCluster, pods: PodWatch
) -> None:
    """A builder image that lacks buildah: the build pod fails in its container and the
    MOSB's Failed condition says so, and what to do."""
    node, operator = real.node, real.operator
    assert node is not None and operator is not None
    # the real node leaves the first pool for this one: that pool's MOSC goes first
    group = real.group("machineosconfigs")
    real.custom.delete_cluster_custom_object(group, "v1", "machineosconfigs", POOL)
    operator.stop()
    nobuildah = node.images["builder-nobuildah-amd64"]
    real.start_operator([*OPERATOR_ARGS, f"--builder-image={nobuildah}"])
    real.add_pool("real-bad", ["amd64"])
    real.apply_mosc("real-bad", entries())

    def failed() -> dict[str, Any] | None:
        found = [m for m in mosbs(real, "real-bad") if condition(m, "Failed") == "True"]
        return found[0] if found else None

    mosb = wait(failed, 240, "the build Failed")
    message = next(c for c in mosb["status"]["conditions"] if c["type"] == "Failed")["message"]
    assert "amd64" in message and "the builder image has no buildah" in message, message
    assert "--builder-image" in message, message
    pod = _pod_of(pods, mosb["metadata"]["name"], "build", "amd64")
    terminated = _ran_in_container(pod, node.name)
    assert terminated["exitCode"] != 0, terminated
    assert terminated["message"].startswith("error: the builder image has no buildah"), terminated


def _operator_pod(real: LocalCluster, image: str) -> dict[str, Any] | None:
    """The Deployment's pod running `image`, once Running and Ready (its readiness probe,
    the kubelet's GET of kopf's /healthz, passed)."""
    listed = real.core.list_namespaced_pod(NAMESPACE, label_selector=OPERATOR_SELECTOR)
    for item in listed.items:
        pod: dict[str, Any] = real.client.sanitize_for_serialization(item)
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
        if (
            pod["spec"]["containers"][0]["image"] == image
            and pod["status"].get("phase") == "Running"
            and conditions.get("Ready") == "True"
        ):
            return pod
    return None


def test_operator_deployment_runs_on_the_real_node(real: LocalCluster, pods: PodWatch) -> None:
    """`kubectl apply -k manifests/`, then the image and settings an admin of a private
    registry sets: the kubelet runs the operator's image (built here from the project's
    Containerfile) under the manifests' securityContext (non-root, read-only root, no
    capabilities); the operator reaches the API server through the `kubernetes` Service
    with its pod's token, builds, and serves its metrics on the pod's IP mid-build."""
    node, harness, operator = real.node, real.harness, real.operator
    assert node is not None and harness is not None and operator is not None
    operator.stop()  # the earlier tests' operator process makes room for the Deployment
    group = real.group("machineosconfigs")
    real.custom.delete_cluster_custom_object(group, "v1", "machineosconfigs", "real-bad")
    image = operatorimage.push(real.registry)
    deployment = ("-n", NAMESPACE, "set")
    for args in (
        ("apply", "--server-side", "-k", str(kube_paths.ROOT / "manifests")),
        (*deployment, "image", "deployment/mosb-controller", f"operator={image}"),
        (*deployment, "env", "deployment/mosb-controller",
         f"MOSB_REGISTRY_CA_CONFIGMAP={CA_CONFIGMAP}", "MOSB_BUILD_BACKOFF_LIMIT=0",
         f"MOSB_BUILDER_IMAGE={node.images['builder-amd64']}"),
    ):  # fmt: skip
        done = _kubectl(real, *args)
        assert done.returncode == 0, done.stderr
    try:
        _operator_pod_builds(real, pods, image)
    except AssertionError as exc:
        logs = [
            _kubectl(real, "-n", NAMESPACE, "logs", "deployment/mosb-controller", *extra)
            for extra in (("--previous",), ())
        ]
        tails = "\n".join(f"{d.stdout[-3000:]}{d.stderr[-500:]}" for d in logs)
        raise AssertionError(f"{exc}\noperator pod's logs (previous, current):\n{tails}") from exc


def _operator_pod_builds(real: LocalCluster, pods: PodWatch, image: str) -> None:
    node, harness = real.node, real.harness
    assert node is not None and harness is not None
    pod = wait(lambda: _operator_pod(real, image), 240, "the operator pod Running and Ready")
    assert pod["spec"]["nodeName"] == node.name
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")

    held = r"real-op-[0-9a-f]+-arm64-"
    harness.hold.add(held)  # mid-build while arm64 is held
    try:
        real.add_pool("real-op", ARCHES)
        real.apply_mosc("real-op", entries("LABEL io.mosb.e2e.arm=op"))
        mosb = wait(lambda: next(iter(mosbs(real, "real-op")), None))["metadata"]["name"]
        wait(lambda: _done(pods, mosb, "amd64"), 240, "the amd64 build pod finished")
        url = f"http://{pod['status']['podIP']}:9090/metrics"

        def counted() -> bool:
            """The operator's pass after the pod finished has counted it (scraped)."""
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            samples = {
                (s.name, s.labels.get("arch")): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            return samples.get(("mosb_arch_builds_succeeded_total", "amd64"), 0) >= 1

        wait(counted, 60, "the amd64 build counted in the pod's metrics")
        assert condition(real.get("machineosbuilds", mosb), "Succeeded") != "True"
    finally:
        harness.hold.discard(held)
    succeeded(real, "real-op")
    again = _operator_pod(real, image)
    assert again is not None and again["status"]["containerStatuses"][0]["restartCount"] == 0
