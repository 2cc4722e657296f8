"""Shared fixtures: a real kube-apiserver + etcd for the integration suites.

In CI (env CI set) a control plane that can't start fails the run. Outside CI the
integration tests skip with a message naming what is missing (run hack/setup.sh).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import hypothesis
import kubernetes
import pytest
from kubernetes.client import ApiException

from hack import controlplane, kube_paths

IN_CI = bool(os.environ.get("CI"))
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


T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    *,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (AssertionError, ApiException),
) -> T:
    """Poll `check` until it returns a truthy value; exceptions in `retry_on` count as
    "not yet" (the last one is raised at the deadline)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except retry_on as exc:
            last = exc
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"not within {timeout}s: {what or check}")


def require(what_is_missing: list[str], hint: str) -> None:
    """Fail in CI, skip elsewhere, when a real part the test needs is missing."""
    if not what_is_missing:
        return
    message = f"missing {', '.join(what_is_missing)}: {hint}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def control_plane_missing() -> list[str]:
    """The binaries of the local control plane (and kwok) that are not installed."""
    missing = kube_paths.missing_binaries()
    if not (shutil.which("etcd") or Path("/usr/bin/etcd").exists()):
        missing.append("etcd")
    return missing


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """etcd + kube-apiserver with the CRDs from manifests/crds applied and Established."""
    require(control_plane_missing(), "run hack/setup.sh to build the pinned control plane")
    workdir = tmp_path_factory.mktemp("control-plane")
    plane = controlplane.ControlPlane(workdir=workdir, bin_dir=kube_paths.cached_bin_dir())
    try:
        plane.start()
        controlplane.apply_crds(plane.kubeconfig)
    except Exception as exc:  # the run must say why, loudly, in CI and out
        plane.stop()
        pytest.fail(f"the local control plane did not start: {exc}", pytrace=False)
    yield plane
    plane.stop()
    plane.cleanup()


@pytest.fixture(scope="session")
def api_client(control_plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=config
    )
    with kubernetes.client.ApiClient(config) as client:
        yield client
