"""Integration fixtures: the operator as a real process against the real API server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kubernetes
import pytest
from kubernetes.client import ApiException

from hack import controlplane, operatoridentity
from hack.operatoridentity import NAMESPACE
from hack.operatorproc import OperatorProcess


@pytest.fixture(scope="session")
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def namespace(core: kubernetes.client.CoreV1Api) -> str:
    with contextlib.suppress(ApiException):
        core.create_namespace(kubernetes.client.V1Namespace(metadata={"name": NAMESPACE}))
    return NAMESPACE


@pytest.fixture(scope="module")
def operator(
    control_plane: controlplane.ControlPlane,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    kubeconfig = operatoridentity.operator_kubeconfig(control_plane)  # its SA, its RBAC
    proc = OperatorProcess(kubeconfig, namespace, log_path)
    proc.start()
    yield proc
    proc.stop()
    print(f"operator log: {log_path}")
