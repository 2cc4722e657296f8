"""Shared fixtures: a real kube-apiserver + etcd for the integration suites.

In CI (env CI set) a control plane that can't start fails the run. Outside CI the
integration tests skip with a message naming what is missing (run hack/setup.sh).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import kubernetes
import pytest

from hack import controlplane, kube_paths
from tests.support.clusters import client_of, started
from tests.support.polling import control_plane_missing, require

TESTS = Path(__file__).resolve().parent

# Two shared cores: generation speed and per-example time vary with the neighbours' load.
# Property tests assert behaviour, never speed.
hypothesis.settings.register_profile(
    "shared-cores", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("shared-cores")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).relative_to(TESTS).parts
        if parts and parts[0] in {"integration", "e2e", "registry"}:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """etcd + kube-apiserver with the CRDs from manifests/crds applied and Established."""
    require(control_plane_missing(), "run hack/setup.sh to build the pinned control plane")
    workdir = tmp_path_factory.mktemp("control-plane")
    plane = controlplane.ControlPlane(workdir=workdir, bin_dir=kube_paths.cached_bin_dir())
    with started(plane, "the local control plane") as started_plane:
        yield started_plane


@pytest.fixture(scope="session")
def api_client(control_plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    with client_of(control_plane) as client:
        yield client
