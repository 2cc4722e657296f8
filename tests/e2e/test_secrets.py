"""Registry credentials as on OpenShift: the MOSC's Secrets in another namespace (the
MCO's), a `kubernetes.io/dockercfg` push secret, and no `baseImagePullSecret`, so the
base (the local registry wants auth for every pull) comes with the global pull secret.
Each build mounts its own `.dockerconfigjson` copies, gone once it succeeded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.names import BUILD_OBJECT_LABEL
from hack import bases, controlplane
from hack.localcluster import ARCHES, NAMESPACE, LocalCluster
from hack.registry import missing_tools
from mosb_controller.planning import buildsecrets
from tests.support.e2e import entries, succeeded, wait
from tests.support.grants import ignore_conflict, readable_by_the_operator
from tests.support.polling import require

MCO_NAMESPACE = "openshift-machine-config-operator"
CONFIG_NAMESPACE = "openshift-config"
PUSH = "builder-dockercfg-x1"  # named as OpenShift names its builder secrets
ARGS = [
    "--build-backoff-limit=0",
    f"--secrets-namespace={MCO_NAMESPACE}",
    f"--global-pull-secret={CONFIG_NAMESPACE}/pull-secret",
]


def _secret(name: str, kind: str, key: str, document: object) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(document).encode()).decode()
    return {"metadata": {"name": name}, "type": kind, "data": {key: data}}


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)
    made = LocalCluster(cluster).start(with_operator=False)
    auths = json.loads(made.registry.dockerconfigjson())["auths"]
    for namespace in (MCO_NAMESPACE, CONFIG_NAMESPACE):
        readable_by_the_operator(made.client, namespace)
    for namespace, body in (
        (MCO_NAMESPACE, _secret(PUSH, "kubernetes.io/dockercfg", ".dockercfg", auths)),
        (CONFIG_NAMESPACE, _secret("pull-secret", "kubernetes.io/dockerconfigjson",
                                   ".dockerconfigjson", {"auths": auths})),
    ):  # fmt: skip
        ignore_conflict(made.core.create_namespaced_secret, namespace, body)
    made.start_operator(ARGS)
    yield made
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")


def test_dockercfg_push_and_global_pull_secret_from_other_namespaces(local: LocalCluster) -> None:
    local.add_pool("creds", ["amd64", "arm64"])
    body = local.mosc_body("creds", entries())
    body["spec"]["renderedImagePushSecret"] = {"name": PUSH}
    del body["spec"]["baseImagePullSecret"]
    local.create("machineosconfigs", "MachineOSConfig", body)
    mosb = succeeded(local, "creds")["metadata"]["name"]
    copies = {buildsecrets.copy_name(mosb, role) for role in buildsecrets.ROLES}

    def gone() -> bool:
        ours = local.core.list_namespaced_secret(NAMESPACE, label_selector=BUILD_OBJECT_LABEL)
        return not copies & {s.metadata.name for s in ours.items if s.metadata}

    wait(gone, 60, "the build's secret copies deleted after success")
    # the sources stay where they are
    assert local.core.read_namespaced_secret(PUSH, MCO_NAMESPACE).type == "kubernetes.io/dockercfg"
