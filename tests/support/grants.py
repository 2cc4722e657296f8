"""What the OpenShift overlay grants the operator in OpenShift's own namespaces
(manifests/openshift/cluster-secrets.yaml), made on the local cluster: a Role there with
`get` on one kind of object, bound to the operator's ServiceAccount."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from hack import operatoridentity
from hack.localcluster import NAMESPACE


def ignore_conflict(create: Callable[..., Any], *args: Any) -> None:
    """Create, unless it exists (an earlier module's, on the same control plane)."""
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def readable_by_the_operator(
    client: kubernetes.client.ApiClient,
    namespace: str,
    resource: str = "secrets",
    names: Sequence[str] = (),
) -> None:
    """The operator may `get` `resource` in `namespace` (only the objects `names`, when
    given, as the overlay's `resourceNames`); the namespace exists."""
    core, rbac = (
        kubernetes.client.CoreV1Api(client),
        kubernetes.client.RbacAuthorizationV1Api(client),
    )
    ignore_conflict(core.create_namespace, {"metadata": {"name": namespace}})
    name = f"mosb-{resource}"
    rule: dict[str, Any] = {"apiGroups": [""], "resources": [resource], "verbs": ["get"]}
    if names:
        rule["resourceNames"] = list(names)
    role = {"metadata": {"name": name}, "rules": [rule]}
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": operatoridentity.SERVICE_ACCOUNT,
                      "namespace": NAMESPACE}],
    }  # fmt: skip
    ignore_conflict(rbac.create_namespaced_role, namespace, role)
    ignore_conflict(rbac.create_namespaced_role_binding, namespace, binding)
