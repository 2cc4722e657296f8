"""The local control plane as the session fixtures hold it (tests/conftest.py: etcd and
kube-apiserver; tests/e2e/conftest.py: the whole local cluster)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kubernetes
import pytest

from hack import controlplane


@contextlib.contextmanager
def started(plane: controlplane.ControlPlane, what: str) -> Iterator[controlplane.ControlPlane]:
    """`plane` started, with the CRDs applied and Established; stopped and its data removed
    on exit. One that does not start fails the run saying why, loudly, in CI and out."""
    try:
        plane.start()
        controlplane.apply_crds(plane.kubeconfig)
    except Exception as exc:
        plane.stop()
        plane.cleanup()
        pytest.fail(f"{what} did not start: {exc}", pytrace=False)
    yield plane
    plane.stop()
    plane.cleanup()


@contextlib.contextmanager
def client_of(plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    """An API client with the plane's admin kubeconfig."""
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(plane.kubeconfig), client_configuration=config
    )
    with kubernetes.client.ApiClient(config) as client:
        yield client
