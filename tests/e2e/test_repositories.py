"""The cluster's RPM repositories and their keys, as on OpenShift: ConfigMaps
`etc-yum-repos-d` and `etc-pki-rpm-gpg` in openshift-config-managed, which the operator
may only `get` there (as the overlay grants). A RUN step of the build sees their files
at /etc/yum.repos.d and /etc/pki/rpm-gpg and writes their digest into the image; the
files themselves are in no layer, and their copy goes with the build.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator

import pytest

from api.names import BUILD_OBJECT_LABEL
from hack import bases, controlplane, imagefiles
from hack.localcluster import NAMESPACE, LocalCluster
from hack.registry import missing_tools
from mosb_controller.planning import objects as jobspec
from tests.support.e2e import succeeded, wait
from tests.support.grants import ignore_conflict, readable_by_the_operator
from tests.support.polling import require

pytestmark = [pytest.mark.e2e]
MANAGED = "openshift-config-managed"
REPO = f"[mosb-e2e]\nname=mosb e2e {secrets.token_hex(8)}\nbaseurl=https://cdn.example.com/\n"
KEY = f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n{secrets.token_hex(16)}\n"
CONTAINERFILE = (
    "FROM configs AS final\n"
    "RUN cat /etc/yum.repos.d/mosb-e2e.repo /etc/pki/rpm-gpg/RPM-GPG-KEY-mosb-e2e | sha256sum"
    " | cut -d' ' -f1 > /etc/mosb-e2e-repos"
)


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(("amd64",)), bases.SETUP_HINT)
    made = LocalCluster(cluster).start(with_operator=False)
    readable_by_the_operator(made.client, MANAGED, "configmaps")
    for name, data in (
        ("etc-yum-repos-d", {"mosb-e2e.repo": REPO}),
        ("etc-pki-rpm-gpg", {"RPM-GPG-KEY-mosb-e2e": KEY}),
    ):
        body = {"metadata": {"name": name}, "data": data}
        ignore_conflict(made.core.create_namespaced_config_map, MANAGED, body)
    made.start_operator(
        [
            "--build-backoff-limit=0",
            f"--yum-repos-configmap={MANAGED}/etc-yum-repos-d",
            f"--rpm-gpg-configmap={MANAGED}/etc-pki-rpm-gpg",
        ]
    )
    yield made
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")


def test_run_steps_see_the_clusters_repositories_and_keys(local: LocalCluster) -> None:
    local.add_pool("repos", ["amd64"])
    local.create("machineosconfigs", "MachineOSConfig",
                 local.mosc_body("repos", [("NoArch", CONTAINERFILE)]))  # fmt: skip
    mosb = succeeded(local, "repos")
    pushed = mosb["status"]["digestedImagePushSpec"]
    repository, _, digest = pushed.partition("@")
    repository = repository.split("/", 1)[1]  # without the registry host
    written = imagefiles.read_file(local.registry, repository, digest, "/etc/mosb-e2e-repos")
    assert written == f"{hashlib.sha256((REPO + KEY).encode()).hexdigest()}\n".encode()
    for path in ("/etc/yum.repos.d/mosb-e2e.repo", "/etc/pki/rpm-gpg/RPM-GPG-KEY-mosb-e2e"):
        assert imagefiles.read_file(local.registry, repository, digest, path) in (None, b"")
    inputs = jobspec.inputs_configmap_name(mosb["metadata"]["name"])

    def gone() -> bool:
        ours = local.core.list_namespaced_config_map(NAMESPACE, label_selector=BUILD_OBJECT_LABEL)
        return inputs not in {c.metadata.name for c in ours.items if c.metadata}

    wait(gone, 60, "the build's inputs ConfigMap (with the files) deleted after success")
