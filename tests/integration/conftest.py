"""Integration fixtures: the operator as a real process against the real API server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kubernetes
import pytest
from kubernetes.client import ApiException

import controlplane
from operatorproc import OperatorProcess

NAMESPACE = "mosb-controller"
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `check` until it returns a truthy value without raising AssertionError."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (AssertionError, ApiException) as exc:
            last = exc
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


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
    proc = OperatorProcess(control_plane.controller_kubeconfig, namespace, log_path)
    proc.start()
    yield proc
    proc.stop()
    print(f"operator log: {log_path}")


def delete_quietly(delete: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(ApiException):
        delete(*args)
