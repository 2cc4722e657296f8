"""The command lines of the local control plane's components: etcd and kube-apiserver,
and in cluster mode kube-controller-manager, kube-scheduler and kwok (the fake Nodes'
kubelet, configured by the Stages in hack/kwok/stages.yaml); and a check of kwok's config
that kwok itself does not make. hack/controlplane.py starts them."""

from __future__ import annotations

from pathlib import Path

import yaml

from hack.kube_paths import ROOT
from hack.processes import ControlPlaneError

DEFAULT_KWOK_CONFIG = ROOT / "hack" / "kwok" / "stages.yaml"
# The Node the real kubelet registers (hack/realnode.py); the API server knows its
# credentials from the start (ControlPlane.node_token), whether it ever runs or not.
REAL_NODE = "real-amd64-0"
# kwok manages only the Nodes carrying this annotation (hack/fakenodes.py puts it on
# every fake Node): the real node's status, Lease and pods are its kubelet's.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# kube-controller-manager's controllers in cluster mode: Jobs and their pods (job, GC of
# owned objects, TTL after finished, pod GC), nodes (lifecycle: lifts the not-ready taint
# the API server puts on every new Node once kwok reports it Ready, taints and evicts on
# lost heartbeats), ServiceAccounts (the `default` SA per namespace, legacy token Secrets,
# the kube-root-ca.crt ConfigMap projected SA tokens mount), namespace deletion and the
# aggregated admin/edit/view ClusterRoles; Deployments and ReplicaSets. No Services,
# volumes or CSRs.
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "namespace-controller",
    "clusterrole-aggregation-controller",
    # The operator's own Deployment (manifests/, hack/operatorpod.py runs its pod).
    "deployment-controller",
    "replicaset-controller",
)


def etcd_argv(etcd: str, data_root: Path, url: str, peer_port: int) -> list[str]:
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        etcd,
        f"--data-dir={data_root}",
        f"--listen-client-urls={url}",
        f"--advertise-client-urls={url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--quota-backend-bytes=4294967296",
        "--snapshot-count=50000",
        "--log-level=warn",
    ]


def apiserver_argv(
    bin_dir: Path,
    *,
    etcd_url: str,
    certs: Path,
    port: int,
    tokens: Path,
    sa_key: Path,
    audit_log: Path,
    audit_policy: Path,
    service_account_admission: bool,
) -> list[str]:
    """Without `service_account_admission` (no controller-manager would create the
    ServiceAccounts pods name) that admission plugin is off."""
    argv = [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        f"--cert-dir={certs}",
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=Node,RBAC",
        f"--token-auth-file={tokens}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={sa_key}",
        f"--service-account-signing-key-file={sa_key}",
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        f"--audit-log-path={audit_log}",
        f"--audit-policy-file={audit_policy}",
        "--audit-log-maxsize=200",
        # Reach a node's kubelet (pods/log) at its InternalIP, as OpenShift's API server
        # does; kwok's nodes' names resolve nowhere, their InternalIP is loopback.
        "--kubelet-preferred-address-types=InternalIP",
        "--v=1",
    ]
    if not service_account_admission:
        argv.append("--disable-admission-plugins=ServiceAccount")
    return argv


def controller_manager_argv(
    bin_dir: Path, kubeconfig: Path, sa_key: Path, ca_file: Path, port: int
) -> list[str]:
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--service-account-private-key-file={sa_key}",
        f"--root-ca-file={ca_file}",
        "--use-service-account-credentials=false",
        f"--controllers={','.join(CONTROLLERS)}",
        "--concurrent-job-syncs=10",
        # The default 20 requests/s lifts the not-ready taint of 2,000 new nodes in
        # minutes (one patch each); a local API server takes far more.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--v=1",
    ]


def scheduler_argv(bin_dir: Path, kubeconfig: Path, port: int) -> list[str]:
    return [
        str(bin_dir / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--v=1",
    ]


def kwok_argv(bin_dir: Path, kubeconfig: Path, kwok_config: Path, port: int) -> list[str]:
    # --server-address serves /healthz (plain HTTP), only after kwok's controllers
    # started. The Lease per node (kube-node-lease) is kwok's heartbeat: the node
    # lifecycle controller keeps a node Ready while its Lease is renewed.
    return [
        str(bin_dir / "kwok"),
        f"--kubeconfig={kubeconfig}",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        f"--config={kwok_config}",
        "--node-lease-duration-seconds=40",
        # Node InternalIP / pod hostIP; pod IPs from OpenShift's default cluster
        # network (kwok's default 10.0.0.1/24 overlaps our service range).
        "--node-ip=127.0.0.1",
        "--cidr=10.128.0.1/14",
        f"--server-address=127.0.0.1:{port}",
    ]


_KWOK_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


def check_kwok_config(path: Path) -> None:
    """Catch what kwok v0.7.0 would not report at start: it silently ignores a Stage
    without a selector and only fails on a bad selector operator when a first object
    reaches that Stage (then no stage applies to the object at all)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ControlPlaneError(f"kwok config {path}: {exc}") from exc
    for doc in docs:
        name = (doc.get("metadata") or {}).get("name", "?")
        if doc.get("kind") != "Stage" or doc.get("apiVersion") != "kwok.x-k8s.io/v1alpha1":
            raise ControlPlaneError(f"kwok config {path}: {name} is not a v1alpha1 Stage")
        selector = (doc.get("spec") or {}).get("selector")
        if selector is None:
            raise ControlPlaneError(f"kwok config {path}: Stage {name} has no selector")
        for expression in selector.get("matchExpressions") or []:
            operator = (expression.get("jq") or expression).get("operator")
            if "cel" not in expression and operator not in _KWOK_OPERATORS:
                raise ControlPlaneError(
                    f"kwok config {path}: Stage {name}: operator {operator!r} "
                    f"is not one of {sorted(_KWOK_OPERATORS)}"
                )
