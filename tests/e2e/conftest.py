"""End-to-end fixtures: the local cluster (etcd, kube-apiserver, kube-scheduler,
kube-controller-manager and kwok with hack/kwok/stages.yaml), with the CRDs applied.

One cluster per session; each test module adds the kwok nodes it needs
(fakenodes.add_nodes). In CI (env CI set) missing binaries fail the run; elsewhere
the tests skip saying what is missing. A cluster that does not start always fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes
import pytest

from hack import bases, controlplane, kube_paths
from hack.clustercomponents import DEFAULT_KWOK_CONFIG
from hack.localcluster import ARCHES, LocalCluster
from hack.registry import missing_tools
from tests.support.clusters import client_of, started
from tests.support.polling import control_plane_missing, require


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    require(control_plane_missing(), "run hack/setup.sh to build the pinned control plane and kwok")
    plane = controlplane.ControlPlane(
        workdir=tmp_path_factory.mktemp("cluster"),
        bin_dir=kube_paths.cached_bin_dir(),
        with_cluster=True,
        kwok_config=DEFAULT_KWOK_CONFIG,
    )
    with started(plane, "the local cluster") as started_plane:
        yield started_plane


@pytest.fixture(scope="session")
def cluster_client(
    cluster: controlplane.ControlPlane,
) -> Iterator[kubernetes.client.ApiClient]:
    with client_of(cluster) as client:
        yield client


# One local cluster per test module (registry, harness, operator) on the session's
# control plane; with RUN steps, so it needs the base images and the qemu-user handlers,
# skipping (failing in CI) with what is missing. A module may define its own.
@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)
    made = LocalCluster(cluster).start(["--build-backoff-limit=0", "--no-node-timeout-seconds=60"])
    yield made
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")
