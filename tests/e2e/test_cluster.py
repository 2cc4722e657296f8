"""The local cluster itself: kwok nodes of four architectures, the real scheduler binding
pods by architecture, kwok playing the kubelet for ordinary Job pods and leaving ours
(label mosb-controller.io/managed) alone, the garbage collector removing a deleted Job's
pods. What the rest of the end-to-end suite and the demo rely on."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, cast

import kubernetes
import pytest
from kubernetes.client import ApiException

from hack import fakenodes
from tests.support.polling import eventually

NAMESPACE = "e2e-cluster"
MANAGED_LABEL = "mosb-controller.io/managed"
SUITE_LABEL = "mosb-e2e/suite"
ARCH = "kubernetes.io/arch"
IMAGE = "registry.example/library/busybox:1.36"  # never pulled: kwok runs nothing


def raw(client: kubernetes.client.ApiClient, obj: object) -> dict[str, Any]:
    """The object as the API serves it (camelCase dict): no Optional attribute chains."""
    return cast(dict[str, Any], client.sanitize_for_serialization(obj))


@pytest.fixture(scope="module")
def core(cluster_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(cluster_client)


@pytest.fixture(scope="module")
def batch(cluster_client: kubernetes.client.ApiClient) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(cluster_client)


@pytest.fixture(scope="module")
def nodes(cluster_client: kubernetes.client.ApiClient) -> list[str]:
    names = fakenodes.add_nodes(
        cluster_client, fakenodes.ARCHES, 1, {SUITE_LABEL: "cluster"}, "e2e-cluster"
    )
    fakenodes.wait_nodes_ready(cluster_client, names, timeout=30)
    return names


@pytest.fixture(scope="module")
def namespace(core: kubernetes.client.CoreV1Api, nodes: list[str]) -> Iterator[str]:
    core.create_namespace(kubernetes.client.V1Namespace(metadata={"name": NAMESPACE}))

    # The ServiceAccount admission plugin rejects pods until `default` exists.
    def has_default_sa() -> bool:
        listed = raw(core.api_client, core.list_namespaced_service_account(NAMESPACE))
        return "default" in [sa["metadata"]["name"] for sa in listed["items"]]

    eventually(has_default_sa, what="ServiceAccount default created by the controller-manager")
    yield NAMESPACE
    with contextlib.suppress(ApiException):
        core.delete_namespace(NAMESPACE)


def job(name: str, *, arch: str | None = None, managed: bool = False, pods: int = 1) -> Any:
    labels = {MANAGED_LABEL: "true"} if managed else {}
    selector = {ARCH: arch} if arch else {}
    return kubernetes.client.V1Job.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "completions": pods,
                "parallelism": pods,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": selector,
                        "containers": [{"name": "main", "image": IMAGE, "command": ["true"]}],
                    },
                },
            },
        }
    )


def pods_of(core: kubernetes.client.CoreV1Api, job_name: str) -> list[dict[str, Any]]:
    selector = f"batch.kubernetes.io/job-name={job_name}"
    listed = core.list_namespaced_pod(NAMESPACE, label_selector=selector)
    return list(raw(core.api_client, listed)["items"])


def node_arch(core: kubernetes.client.CoreV1Api, name: str) -> str:
    return str(raw(core.api_client, core.read_node(name))["metadata"]["labels"][ARCH])


def job_status(batch: kubernetes.client.BatchV1Api, name: str) -> dict[str, Any]:
    return dict(raw(batch.api_client, batch.read_namespaced_job(name, NAMESPACE)).get("status", {}))


def job_condition(batch: kubernetes.client.BatchV1Api, name: str, type_: str) -> bool:
    conditions = job_status(batch, name).get("conditions", [])
    return any(c["type"] == type_ and c["status"] == "True" for c in conditions)


def delete_job(batch: kubernetes.client.BatchV1Api, name: str) -> None:
    # Background, as kubectl does: the Job goes at once, the garbage collector then
    # deletes its pods (kwok's pod-delete stage plays the kubelet's final removal).
    batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Background")


def test_nodes_of_four_architectures_become_ready_and_schedulable(
    core: kubernetes.client.CoreV1Api, nodes: list[str]
) -> None:
    arches = []
    for name in nodes:
        node = raw(core.api_client, core.read_node(name))
        assert fakenodes.node_ready(node), name
        assert not node["spec"].get("taints"), (name, node["spec"])
        arch = node["metadata"]["labels"][ARCH]
        assert node["status"]["nodeInfo"]["architecture"] == arch
        assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
        assert int(node["status"]["allocatable"]["pods"]) > 0
        arches.append(arch)
    assert sorted(arches) == sorted(fakenodes.ARCHES)
    leases = kubernetes.client.CoordinationV1Api(core.api_client)
    listed = raw(core.api_client, leases.list_namespaced_lease("kube-node-lease"))
    held = {lease["metadata"]["name"] for lease in listed["items"]}
    assert set(nodes) <= held, "kwok holds a node Lease for every node"


def test_plain_job_is_scheduled_by_arch_and_completed_by_kwok(
    core: kubernetes.client.CoreV1Api, batch: kubernetes.client.BatchV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job("plain-s390x", arch="s390x"))
    eventually(lambda: job_condition(batch, "plain-s390x", "Complete"), what="Job Complete")
    [pod] = pods_of(core, "plain-s390x")
    assert pod["status"]["phase"] == "Succeeded"
    [status] = pod["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 0
    node = pod["spec"]["nodeName"]
    assert node_arch(core, node) == "s390x"

    def scheduled_event() -> list[dict[str, Any]]:
        selector = f"involvedObject.name={pod['metadata']['name']}"
        events = raw(
            core.api_client, core.list_namespaced_event(namespace, field_selector=selector)
        )
        return [e for e in events["items"] if e.get("reason") == "Scheduled"]

    [event] = eventually(scheduled_event, what="the scheduler's Scheduled event")
    assert node in event["message"]
    assert job_status(batch, "plain-s390x")["succeeded"] == 1
    delete_job(batch, "plain-s390x")


def test_managed_pod_is_scheduled_but_left_alone_by_kwok(
    core: kubernetes.client.CoreV1Api, batch: kubernetes.client.BatchV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job("ours-arm64", arch="arm64", managed=True))
    [pod] = eventually(
        lambda: [p for p in pods_of(core, "ours-arm64") if p["spec"].get("nodeName")],
        what="our pod bound to a node",
    )
    assert node_arch(core, pod["spec"]["nodeName"]) == "arm64"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # kwok acts within milliseconds on other pods
        [now] = pods_of(core, "ours-arm64")
        assert now["status"]["phase"] == "Pending"
        assert not now["status"].get("containerStatuses")
        assert not now["status"].get("podIP")
        time.sleep(0.2)
    assert not job_condition(batch, "ours-arm64", "Complete")
    delete_job(batch, "ours-arm64")
    eventually(lambda: not pods_of(core, "ours-arm64"), timeout=10, what="our pod deleted")


@pytest.mark.parametrize("managed", [False, True], ids=["completed-pods", "running-pods"])
def test_deleting_a_job_removes_its_pods(
    core: kubernetes.client.CoreV1Api,
    batch: kubernetes.client.BatchV1Api,
    namespace: str,
    managed: bool,
) -> None:
    name = f"gc-{'ours' if managed else 'plain'}"
    batch.create_namespaced_job(namespace, job(name, managed=managed, pods=3))
    if managed:  # held non-terminal on their nodes: deletion needs kwok's pod-delete stage
        eventually(
            lambda: len([p for p in pods_of(core, name) if p["spec"].get("nodeName")]) == 3,
            what="3 pods bound",
        )
    else:
        eventually(lambda: job_condition(batch, name, "Complete"), what="Job Complete")
        assert len(pods_of(core, name)) == 3
    delete_job(batch, name)
    # Well under the pods' 30 s grace period: no kubelet waits it out.
    eventually(lambda: not pods_of(core, name), timeout=10, what="pods removed by the GC")
    with pytest.raises(ApiException) as gone:
        batch.read_namespaced_job(name, namespace)
    assert gone.value.status == 404
