"""The operator's own identity on the local control plane: the RBAC of manifests/rbac and
a token of its ServiceAccount (TokenRequest), so tests run it with exactly the rights a
cluster gives it and never as a cluster admin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes

from api import OSIMAGEURL_NAMESPACE, Mode
from hack import controlplane
from hack.kube_paths import ROOT

RBAC_DIR = ROOT / "manifests" / "rbac"
# alongside-mco: the OpenShift overlay's ClusterRole (replacing ../rbac's) and the Role on
# the MCO's osimageurl ConfigMap.
ALONGSIDE_RBAC = (
    ROOT / "manifests" / "openshift" / "clusterrole-alongside-mco.yaml",
    ROOT / "manifests" / "openshift" / "role-osimageurl.yaml",
)
NAMESPACE = "mosb-controller"
SERVICE_ACCOUNT = "mosb-controller"
USER = controlplane.OPERATOR_USER
TOKEN_SECONDS = 24 * 3600


def apply_rbac(kubeconfig: Path, mode: Mode = Mode.BUILDER) -> None:
    """Namespace, ServiceAccounts, ClusterRole/Role and bindings, as an admin applies them
    (for alongside-mco: as the OpenShift overlay makes them)."""
    apply = ["kubectl", f"--kubeconfig={kubeconfig}", "apply", "--server-side"]
    subprocess.run([*apply, "-k", str(RBAC_DIR)], check=True, capture_output=True)
    if mode is Mode.ALONGSIDE_MCO:
        namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OSIMAGEURL_NAMESPACE}\n"
        subprocess.run(
            [*apply, "-f", "-"], input=namespace.encode(), check=True, capture_output=True
        )
        for path in ALONGSIDE_RBAC:
            subprocess.run([*apply, "-f", str(path)], check=True, capture_output=True)


def request_token(
    client: kubernetes.client.ApiClient,
    namespace: str = NAMESPACE,
    service_account: str = SERVICE_ACCOUNT,
    pod: kubernetes.client.V1Pod | None = None,
) -> str:
    """A TokenRequest for the ServiceAccount; bound to `pod` (so it dies with it) if given."""
    spec: dict[str, object] = {"audiences": [], "expirationSeconds": TOKEN_SECONDS}
    if pod is not None and pod.metadata is not None:
        spec["boundObjectRef"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.metadata.name,
            "uid": pod.metadata.uid,
        }
    request = kubernetes.client.AuthenticationV1TokenRequest.model_validate({"spec": spec})
    answer = kubernetes.client.CoreV1Api(client).create_namespaced_service_account_token(
        service_account, namespace, request
    )
    if answer.status is None:
        raise RuntimeError(f"TokenRequest for {namespace}/{service_account} gave no token")
    return str(answer.status.token)


def write_kubeconfig(plane: controlplane.ControlPlane, token: str, path: Path) -> Path:
    path.write_text(controlplane.kubeconfig_text(plane.url, plane.ca_file, USER, token))
    path.chmod(0o600)
    return path


def operator_kubeconfig(plane: controlplane.ControlPlane, mode: Mode = Mode.BUILDER) -> Path:
    """Apply the mode's RBAC and return a kubeconfig holding the operator's SA token."""
    apply_rbac(plane.kubeconfig, mode)
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(plane.kubeconfig), client_configuration=config
    )
    with kubernetes.client.ApiClient(config) as client:
        token = request_token(client)
    return write_kubeconfig(plane, token, plane.workdir / "operator.kubeconfig")
