"""The operator's identity (manifests/rbac, its ServiceAccount's token) on the real API
server with RBAC on: what it must not do is forbidden, and nothing it does is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import kubernetes
import pytest
from kubernetes.client import ApiException

from hack import controlplane, fakenodes, operatoridentity, rbacaudit
from hack.operatoridentity import NAMESPACE
from hack.operatorproc import OperatorProcess
from tests.support.polling import eventually


@pytest.fixture(scope="module")
def as_operator(control_plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(operatoridentity.operator_kubeconfig(control_plane)),
        client_configuration=config,
    )
    with kubernetes.client.ApiClient(config) as client:
        yield client


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_operator_may_not_touch_nodes_or_secrets_elsewhere(
    as_operator: kubernetes.client.ApiClient, core: kubernetes.client.CoreV1Api
) -> None:
    node = fakenodes.kwok_node("rbac-victim", "amd64", {})
    core.create_node(node)
    secret = kubernetes.client.V1Secret(metadata={"name": "elsewhere"}, string_data={"k": "v"})
    core.create_namespaced_secret("default", secret)
    try:
        op = kubernetes.client.CoreV1Api(as_operator)
        batch = kubernetes.client.BatchV1Api(as_operator)
        pod = kubernetes.client.V1Pod(
            metadata={"name": "p"}, spec={"containers": [{"name": "c", "image": "x"}]}
        )
        assert status_of(lambda: op.list_node()) == 200  # the token works: it may read nodes
        assert status_of(lambda: op.delete_node("rbac-victim")) == 403
        assert status_of(lambda: op.patch_node("rbac-victim", {"spec": {}})) == 403
        assert status_of(lambda: op.read_namespaced_secret("elsewhere", "default")) == 403
        assert status_of(lambda: op.list_secret_for_all_namespaces()) == 403
        assert status_of(lambda: op.create_namespaced_pod(NAMESPACE, pod)) == 403
        assert status_of(lambda: batch.list_namespaced_job("default")) == 403
        assert core.read_node("rbac-victim").metadata is not None  # still there
    finally:
        core.delete_node("rbac-victim")
        core.delete_namespaced_secret("elsewhere", "default")


def test_nothing_the_operator_did_was_refused(
    control_plane: controlplane.ControlPlane, operator: OperatorProcess
) -> None:
    """Over this session's runs of the operator (after the architecture and build tests
    when the whole suite runs): its RBAC let every request through."""

    def listed_pools() -> list[rbacaudit.Request]:
        made = rbacaudit.requests(control_plane.audit_log)
        return made if any(r.resource == "machineconfigpools" for r in made) else []

    made = eventually(listed_pools, what="the operator's requests in the audit log")
    # The forbidden probes above came from the same identity: leave them out.
    probes = {
        ("nodes", "delete", ""),
        ("nodes", "patch", ""),
        ("secrets", "get", "default"),
        ("secrets", "list", ""),
        ("pods", "create", NAMESPACE),
        ("jobs", "list", "default"),
    }
    refused = {
        r
        for r in rbacaudit.refused(made, rbacaudit.grants())
        if (r.resource, r.verb, r.namespace) not in probes
    }
    assert not refused, f"the operator was refused: {sorted(map(str, refused))}"
