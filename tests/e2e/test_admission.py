"""The build pods are admissible under OpenShift's `anyuid` SCC.

The local cluster's API server enforces hack/admission/anyuid-scc.yaml, a
ValidatingAdmissionPolicy encoding what SCC admission checks for the build
ServiceAccount's pods. Here: the Jobs the controller renders today are admitted, the
explicit SETUID/SETGID of earlier releases is refused with SCC's own words, and so is
each other thing anyuid forbids. Every other e2e module's builds run under the same
policy (hack/localcluster.py applies it), RUN steps included.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from hack import admission, controlplane
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.inputs import BuildInputs, build_inputs
from mosb_controller.settings import Settings
from tests.support import factories

NAMESPACE = "mosb-controller"


@pytest.fixture(scope="module")
def core(
    cluster: controlplane.ControlPlane, cluster_client: kubernetes.client.ApiClient
) -> Iterator[kubernetes.client.CoreV1Api]:
    api = kubernetes.client.CoreV1Api(cluster_client)
    try:
        api.create_namespace(kubernetes.client.V1Namespace(metadata={"name": NAMESPACE}))
        api.create_namespaced_service_account(
            NAMESPACE,
            kubernetes.client.V1ServiceAccount(metadata={"name": admission.BUILD_SERVICE_ACCOUNT}),
        )
    except ApiException as exc:
        if exc.status != 409:  # an earlier module's LocalCluster made them
            raise
    admission.apply(cluster.kubeconfig, api, NAMESPACE)
    yield api


def _rendered_jobs() -> list[dict[str, Any]]:
    obs = factories.observed()
    inputs = build_inputs(obs.mosc, obs.pool, obs.rendered, obs.pool_arches)
    assert isinstance(inputs, BuildInputs)
    settings = Settings(namespace=NAMESPACE)
    build = jobspec.build_job(inputs, "m", "uid", "arm64", settings)
    push = jobspec.push_job(inputs, "m", "uid", {"arm64": "r@sha256:" + "0" * 64}, settings)
    for job in (build, push):
        job["metadata"].pop("ownerReferences")  # no such MOSB here: the GC would delete it
    return [build, push]


def _create_job(client: kubernetes.client.ApiClient, job: dict[str, Any]) -> str:
    create = kubernetes.client.BatchV1Api(client).create_namespaced_job
    return admission.dry_run_refusal(create, NAMESPACE, job)


def _as_pod(job: dict[str, Any]) -> dict[str, Any]:
    template = job["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "admitted-", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def test_the_rendered_build_and_push_jobs_and_their_pods_are_admitted(
    core: kubernetes.client.CoreV1Api, cluster_client: kubernetes.client.ApiClient
) -> None:
    for job in _rendered_jobs():
        assert _create_job(cluster_client, job) == ""
        assert admission.refusal(core, NAMESPACE, _as_pod(job)) == ""


def test_explicit_setuid_setgid_as_in_earlier_releases_is_refused(
    core: kubernetes.client.CoreV1Api, cluster_client: kubernetes.client.ApiClient
) -> None:
    for job in _rendered_jobs():
        old = copy.deepcopy(job)
        container = old["spec"]["template"]["spec"]["containers"][0]
        container["securityContext"] = {"capabilities": {"add": ["SETUID", "SETGID"]}}
        refused = _create_job(cluster_client, old)
        assert "capability may not be added" in refused
        assert "capability may not be added" in admission.refusal(core, NAMESPACE, _as_pod(old))


def _set(spec: dict[str, Any], what: str) -> None:
    container = spec["containers"][0]
    match what:
        case "privileged":
            container["securityContext"]["privileged"] = True
        case "MKNOD":
            container["securityContext"] = {}
        case "host network":
            spec["hostNetwork"] = True
        case "host PID":
            spec["hostPID"] = True
        case "host port":
            container["ports"] = [{"containerPort": 80, "hostPort": 8080}]
        case "hostPath":
            spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})


@pytest.mark.parametrize(
    ("what", "words"),
    [
        # this API server runs without --allow-privileged: it refuses first, in its words
        ("privileged", "securityContext.privileged"),
        ("MKNOD", "must drop MKNOD"),
        ("host network", "host network, PID and IPC"),
        ("host PID", "host network, PID and IPC"),
        ("host port", "host ports are not allowed"),
        ("hostPath", "hostPath volumes are not allowed"),
    ],
)
def test_what_anyuid_forbids_is_refused(
    core: kubernetes.client.CoreV1Api, what: str, words: str
) -> None:
    pod = _as_pod(copy.deepcopy(_rendered_jobs()[0]))
    _set(pod["spec"], what)
    assert words in admission.refusal(core, NAMESPACE, pod)


def test_pods_of_other_service_accounts_are_not_its_concern(
    core: kubernetes.client.CoreV1Api,
) -> None:
    pod = admission.probe_pod({"add": ["SETUID"]})
    pod["spec"]["serviceAccountName"] = "default"
    assert admission.refusal(core, NAMESPACE, pod) == ""
