"""Deploy and operate on the local cluster: `kubectl apply -k manifests/` runs the operator
as a Deployment (its pod's command run by hack/operatorpod.py under the pod's
ServiceAccount token), its metrics are scraped during a build, and its RBAC is compared
with every request the operator made in this session (audit log)."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hack import controlplane, rbacaudit
from hack.kube_paths import ROOT
from hack.localcluster import CA_CONFIGMAP, NAMESPACE, LocalCluster
from hack.operatorpod import OperatorPodRunner
from hack.operatorproc import OperatorProcess
from hack.registry import missing_tools
from tests.support.e2e import entries, succeeded
from tests.support.polling import eventually, require

MANIFESTS = ROOT / "manifests"


def kubectl(plane: controlplane.ControlPlane, *args: str) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={plane.kubeconfig}", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def deployed(
    cluster: controlplane.ControlPlane,
) -> Iterator[tuple[LocalCluster, OperatorPodRunner]]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    local = LocalCluster(cluster).start(with_operator=False)
    local.add_nodes("infra", ("amd64",), 1, "ops-infra")  # somewhere for the operator's pod
    runner = OperatorPodRunner(cluster, local.client, local.workdir).start()
    try:
        kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
        # As an admin with a private registry does (README: configuration by env).
        kubectl(
            cluster, "-n", NAMESPACE, "set", "env", "deployment/mosb-controller",
            f"MOSB_REGISTRY_CA_CONFIGMAP={CA_CONFIGMAP}", "MOSB_BUILD_BACKOFF_LIMIT=0",
        )  # fmt: skip
        yield local, runner
    finally:
        runner.stop()
        local.stop()
        print(f"operator pod logs: {local.workdir}/mosb-controller-*.log")


def operator_of(runner: OperatorPodRunner) -> OperatorProcess:
    """The one operator running, once it is the configured Deployment's."""

    def configured() -> OperatorProcess | None:
        running = list(runner.running().values())
        if len(running) == 1 and running[0].extra_env.get("MOSB_REGISTRY_CA_CONFIGMAP"):
            return running[0]
        return None

    return cast(OperatorProcess, eventually(configured, 120, 0.2, what="one operator pod"))


def scrape(proc: OperatorProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(proc.scrape())
        for s in family.samples
    }


def count(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_apply_k_runs_the_operator_deployment(
    deployed: tuple[LocalCluster, OperatorPodRunner],
) -> None:
    local, runner = deployed
    proc = operator_of(runner)
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as resp:
        assert resp.status == 200
    assert f"system:serviceaccount:{NAMESPACE}:mosb-controller" in proc.kubeconfig.read_text()

    def available() -> bool:
        deployment = local.client.sanitize_for_serialization(
            __import__("kubernetes")
            .client.AppsV1Api(local.client)
            .read_namespaced_deployment("mosb-controller", NAMESPACE)
        )
        return bool((deployment.get("status") or {}).get("availableReplicas") == 1)

    eventually(available, 60, what="Deployment mosb-controller available")


def test_metrics_count_each_architecture_during_a_build(
    deployed: tuple[LocalCluster, OperatorPodRunner],
) -> None:
    local, runner = deployed
    proc = operator_of(runner)
    assert local.harness is not None
    local.add_pool("ops", ("amd64", "arm64"))
    held = r"ops-[0-9a-f]+-arm64"
    local.harness.hold.add(held)  # arm64 keeps building while we look
    before = scrape(proc)
    ops = {"mosc": "ops", "pool": "ops"}
    try:
        local.apply_mosc("ops", entries())

        def midway() -> dict[Any, float] | None:
            now = scrape(proc)
            started = count(now, "mosb_arch_builds_started_total", arch="arm64")
            done = count(now, "mosb_arch_builds_succeeded_total", arch="amd64")
            was_started = count(before, "mosb_arch_builds_started_total", arch="arm64")
            was_done = count(before, "mosb_arch_builds_succeeded_total", arch="amd64")
            building = count(now, "mosb_arch_build_phase", arch="arm64", phase="Building", **ops)
            return now if started > was_started and done > was_done and building else None

        now = cast(
            dict[Any, float],
            eventually(midway, 240, 0.5, what="arm64 started and amd64 built, in /metrics"),
        )
        arm = ("mosb_arch_builds_succeeded_total", {"arch": "arm64"})
        assert count(now, arm[0], **arm[1]) == count(before, arm[0], **arm[1])  # still held
        assert count(now, "mosb_pool_architectures", pool="ops") == 2
        # What the alerts read: arm64 running since its Job started; nothing published yet.
        assert count(now, "mosb_arch_build_phase", arch="amd64", phase="Succeeded", **ops) == 1
        assert count(now, "mosb_arch_build_start_timestamp_seconds", arch="arm64", **ops) > 0
        assert count(now, "mosb_published_image_outdated", **ops) == 1
    finally:
        local.harness.hold.discard(held)
    succeeded(local, "ops")

    def finished() -> dict[Any, float] | None:
        now = scrape(proc)
        push = count(now, "mosb_push_duration_seconds_count")
        return now if push > count(before, "mosb_push_duration_seconds_count") else None

    after = cast(
        dict[Any, float],
        eventually(finished, 60, 0.5, what="the push Job's duration in /metrics"),
    )
    for arch in ("amd64", "arm64"):
        for name in ("mosb_arch_builds_succeeded_total", "mosb_arch_build_duration_seconds_count"):
            assert count(after, name, arch=arch) == count(before, name, arch=arch) + 1, (name, arch)
    assert count(after, "mosb_arch_builds_failed_total", arch="arm64", reason="Failed") == count(
        before, "mosb_arch_builds_failed_total", arch="arm64", reason="Failed"
    )

    def published() -> bool:
        return count(scrape(proc), "mosb_published_image_outdated", **ops) == 0

    eventually(published, 30, 0.5, what="the published image current in /metrics")


def test_rbac_grants_exactly_what_the_operator_used(
    cluster: controlplane.ControlPlane, request: pytest.FixtureRequest
) -> None:
    """Over the whole e2e session (the main-job scenarios exercise rebuild, retry,
    interruption, cleanup): nothing refused, nothing granted but unused."""
    if not any(item.path.name == "test_main_job.py" for item in request.session.items):
        pytest.skip("compares with the main-job scenarios: run tests/e2e as a whole")
    made, granted = rbacaudit.requests(cluster.audit_log), rbacaudit.grants()
    refused = rbacaudit.refused(made, granted)
    assert not refused, f"refused: {sorted(map(str, refused))}"
    unused = rbacaudit.unused(granted, made)
    assert not unused, f"granted but never used: {sorted(map(str, unused))}"
