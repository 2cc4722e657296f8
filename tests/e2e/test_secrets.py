"""Registry credentials as on OpenShift: the MOSC's Secrets in another namespace (the
MCO's), a `kubernetes.io/dockercfg` push secret, and no `baseImagePullSecret`, so the
base (the local registry wants auth for every pull) comes with the global pull secret.
Each build mounts its own `.dockerconfigjson` copies, gone once it succeeded. And the
builder image as on OpenShift: the MCO's own, named by its images ConfigMap.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.names import (
    BUILD_OBJECT_LABEL,
    MCO_IMAGE_FIELD,
    MCO_IMAGES_CONFIGMAP,
    MCO_IMAGES_KEY,
    MOSC_ANNOTATION,
)
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
# The MCO's image as the release payload names it (the node harness runs the Jobs'
# commands on this machine whatever their image: here only the Jobs' image is checked).
MCO_IMAGE = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "5" * 64
ARGS = [
    "--build-backoff-limit=0",
    f"--secrets-namespace={MCO_NAMESPACE}",
    f"--global-pull-secret={CONFIG_NAMESPACE}/pull-secret",
    f"--mco-images-configmap={MCO_NAMESPACE}/{MCO_IMAGES_CONFIGMAP}",
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
    # What the OpenShift overlay grants there: get on Secrets (it names
    # openshift-config/pull-secret) and on the MCO's images ConfigMap only.
    for namespace in (MCO_NAMESPACE, CONFIG_NAMESPACE):
        readable_by_the_operator(made.client, namespace)
    readable_by_the_operator(made.client, MCO_NAMESPACE, "configmaps", [MCO_IMAGES_CONFIGMAP])
    for namespace, body in (
        (MCO_NAMESPACE, _secret(PUSH, "kubernetes.io/dockercfg", ".dockercfg", auths)),
        (CONFIG_NAMESPACE, _secret("pull-secret", "kubernetes.io/dockerconfigjson",
                                   ".dockerconfigjson", {"auths": auths})),
    ):  # fmt: skip
        ignore_conflict(made.core.create_namespaced_secret, namespace, body)
    images = {"metadata": {"name": MCO_IMAGES_CONFIGMAP},
              "data": {MCO_IMAGES_KEY: json.dumps({MCO_IMAGE_FIELD: MCO_IMAGE})}}  # fmt: skip
    # Replaced if present: alongside-mco's modules leave one naming another image.
    ignore_conflict(made.core.create_namespaced_config_map, MCO_NAMESPACE, images)
    made.core.patch_namespaced_config_map(MCO_IMAGES_CONFIGMAP, MCO_NAMESPACE, images)
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

    def job_images() -> set[str] | None:
        jobs = local.batch.list_namespaced_job(NAMESPACE, label_selector=BUILD_OBJECT_LABEL)
        # this MOSC's only: earlier modules on the same control plane leave failed builds'
        specs = [j.to_dict() for j in jobs.items]
        mine = [j for j in specs if j["metadata"]["annotations"].get(MOSC_ANNOTATION) == "creds"]
        pods = [j["spec"]["template"]["spec"] for j in mine]
        return {str(c["image"]) for pod in pods for c in pod["containers"]} or None

    assert wait(job_images, 60, "the build Jobs") == {MCO_IMAGE}  # the MCO's, as upstream
    mosb = succeeded(local, "creds")["metadata"]["name"]
    copies = {buildsecrets.copy_name(mosb, role) for role in buildsecrets.ROLES}

    def gone() -> bool:
        ours = local.core.list_namespaced_secret(NAMESPACE, label_selector=BUILD_OBJECT_LABEL)
        return not copies & {s.metadata.name for s in ours.items if s.metadata}

    wait(gone, 60, "the build's secret copies deleted after success")
    # the sources stay where they are
    assert local.core.read_namespaced_secret(PUSH, MCO_NAMESPACE).type == "kubernetes.io/dockercfg"
