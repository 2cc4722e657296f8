"""A real local Kubernetes control plane without containers.

etcd (Debian's etcd-server) + kube-apiserver, and on request kube-scheduler,
kube-controller-manager and kwok, built by hack/build-kube.sh at pinned versions. Every
process runs on loopback ports chosen at start, in its own session, and dies with its
parent (PR_SET_PDEATHSIG) so an interrupted test run leaves nothing behind.

In cluster mode kwok plays the kubelet of fake Nodes (see hack/kwok/stages.yaml, and
add_nodes / wait_nodes_ready here): the real scheduler binds pods to them, the real Job
controller, garbage collector and node lifecycle controller act on them.

Used by the test fixtures, the demo and the benchmarks; runnable on its own:
    python -m hack.controlplane up [--cluster [--kwok-config FILE] [--nodes-per-arch N]]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import kubernetes
import yaml

from hack import fakenodes, kube_paths

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "manifests" / "crds"
DEFAULT_KWOK_CONFIG = ROOT / "hack" / "kwok" / "stages.yaml"
ARCHES = ("amd64", "arm64", "ppc64le", "s390x")
NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
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
_PR_SET_PDEATHSIG = 1
OPERATOR_USER = "system:serviceaccount:mosb-controller:mosb-controller"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message says which part and why."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM it when the parent thread exits.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kube_bin_dir() -> Path:
    """The cached binaries, building them on first use (see hack/build-kube.sh)."""
    out = subprocess.run(
        [str(ROOT / "hack" / "build-kube.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ControlPlane:
    """Start with `start()`; `stop()` (or the context manager) ends every process.

    Without `with_cluster`: etcd + kube-apiserver only, with the ServiceAccount admission
    plugin off (no controller would create the ServiceAccounts pods name).

    With `with_cluster`: also kube-scheduler and kube-controller-manager (CONTROLLERS),
    and kwok when `kwok_config` is given (e.g. DEFAULT_KWOK_CONFIG). The ServiceAccount
    admission plugin is on, as in a real cluster: a pod is rejected until its
    ServiceAccount exists (the controller-manager creates `default` in every namespace
    shortly after the namespace; create any other one yourself), and it gets a projected
    token volume. `start()` returns once the scheduler, the controller-manager (healthy,
    and its controllers running: `default/default` ServiceAccount exists) and kwok
    (healthy) are up; add nodes with add_nodes() and wait_nodes_ready().
    """

    workdir: Path
    bin_dir: Path
    with_cluster: bool = False  # scheduler + controller-manager (+ kwok with kwok_config)
    kwok_config: Path | None = None
    processes: list[Process] = field(default_factory=list)
    apiserver_port: int = 0
    token: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    # -- lifecycle -------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            _retry_on_port_clash(lambda: self._start_etcd(timeout), self._forget_last)
            _retry_on_port_clash(lambda: self._start_apiserver(timeout), self._forget_last)
            if self.with_cluster:
                self._start_cluster_components(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.processes):
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        self.processes.clear()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one process (e.g. "kube-apiserver" to test reconnection). kube-apiserver
        drains its watches for longer than 15 s on SIGTERM: SIGKILL it."""
        for proc in self.processes:
            if proc.name == name and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, sig)
                proc.popen.wait(timeout=15)

    def start_apiserver(self, timeout: float = 60.0) -> None:
        """Start kube-apiserver again after stop_component: same port, certs, tokens and
        etcd data, so every client reconnects to the same cluster."""
        self._start_apiserver(timeout)

    def _forget_last(self) -> None:
        """Drop the last started process after it failed (e.g. its port was taken)."""
        self._forget(self.processes[-1])

    def _forget(self, proc: Process) -> None:
        """Drop a started process after it failed (e.g. its port was taken)."""
        self.processes.remove(proc)
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
        if proc.name == "kube-apiserver":
            self.apiserver_port = 0

    # -- components ------------------------------------------------------------------
    def _spawn(self, name: str, argv: Sequence[str]) -> Process:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        proc = Process(name, popen, log_path)
        self.processes.append(proc)
        return proc

    def _wait(self, proc: Process, ready: str, timeout: float) -> None:
        """Poll `ready` (an http(s) URL) until it answers 200 or the process exits."""
        deadline = time.monotonic() + timeout
        context = ssl.create_default_context(cafile=None)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # readiness only; clients verify via kubeconfig
        last = ""
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
                )
            request = urllib.request.Request(ready)  # noqa: S310 - loopback URL we built
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{proc.name} not ready after {timeout:.0f}s ({last}):\n{proc.log_tail()}"
        )

    def _start_etcd(self, timeout: float) -> None:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        if not Path(etcd).exists():
            raise ControlPlaneError("etcd not found: install Debian's etcd-server (hack/setup.sh)")
        client, peer = free_port(), free_port()
        # tmpfs when available: etcd fsyncs every write and 3.4 has no --unsafe-no-fsync.
        shm = Path("/dev/shm")
        data_root = Path(tempfile.mkdtemp(prefix="mosb-etcd-", dir=shm if shm.is_dir() else None))
        self._etcd_data = data_root
        self.etcd_url = f"http://127.0.0.1:{client}"
        proc = self._spawn(
            "etcd",
            [
                etcd,
                f"--data-dir={data_root}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--quota-backend-bytes=4294967296",
                "--snapshot-count=50000",
                "--log-level=warn",
            ],
        )
        self._wait(proc, f"{self.etcd_url}/health", timeout)

    def _start_apiserver(self, timeout: float) -> None:
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        sa_key = certs / "sa.key"
        if not sa_key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
            )
        self.token = self.token or secrets.token_hex(16)
        tokens = certs / "tokens.csv"
        tokens.write_text(f"{self.token},admin,admin,system:masters\n")
        tokens.chmod(0o600)
        self.apiserver_port = self.apiserver_port or free_port()
        admission_off = "" if self.with_cluster else "ServiceAccount"
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--cert-dir={certs}",
            f"--secure-port={self.apiserver_port}",
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
            f"--audit-log-path={self.audit_log}",
            f"--audit-policy-file={self._audit_policy()}",
            "--audit-log-maxsize=200",
            "--v=1",
        ]
        if admission_off:
            argv.append(f"--disable-admission-plugins={admission_off}")
        proc = self._spawn("kube-apiserver", argv)
        self._wait(proc, f"{self.url}/readyz", timeout)
        self._write_kubeconfig()

    def _audit_policy(self) -> Path:
        # Metadata-level audit of the operator's requests only (its ServiceAccount, see
        # hack/operatoridentity.py): tests and benchmarks count its API calls from it and
        # check its RBAC against them.
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
            "rules:\n"
            f"- level: Metadata\n  users: ['{OPERATOR_USER}']\n"
            "- level: None\n"
        )
        return policy

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(kubeconfig_text(self.url, self.ca_file, "admin", self.token))
        self.kubeconfig.chmod(0o600)

    def _start_cluster_components(self, timeout: float) -> None:
        """Start the scheduler, the controller-manager and kwok side by side, then wait
        for each; one whose port was taken meanwhile is restarted alone on a new port."""
        components: list[tuple[str, Callable[[int], list[str]], Callable[[int], str]]] = [
            ("kube-controller-manager", self._controller_manager_argv, _https_healthz),
            ("kube-scheduler", self._scheduler_argv, _https_healthz),
        ]
        if self.kwok_config is not None:
            check_kwok_config(self.kwok_config)
            components.append(("kwok", self._kwok_argv, _http_healthz))
        started = []
        for name, argv, ready in components:
            port = free_port()
            started.append((self._spawn(name, argv(port)), argv, ready, port))
        for proc, argv, ready, port in started:
            for attempt in range(3):
                try:
                    self._wait(proc, ready(port), timeout)
                    break
                except ControlPlaneError as exc:
                    if "address already in use" not in str(exc) or attempt == 2:
                        raise
                    self._forget(proc)
                    port = free_port()
                    proc = self._spawn(proc.name, argv(port))
            if proc.name == "kube-controller-manager":
                # Healthy is not yet running: controllers start after their informers
                # synced. The serviceaccount controller's first act is the observable one.
                self._wait(
                    proc, f"{self.url}/api/v1/namespaces/default/serviceaccounts/default", timeout
                )

    def _controller_manager_argv(self, port: int) -> list[str]:
        return [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--service-account-private-key-file={self.workdir / 'certs' / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            "--use-service-account-credentials=false",
            f"--controllers={','.join(CONTROLLERS)}",
            "--concurrent-job-syncs=10",
            # The default 20 requests/s lifts the not-ready taint of 2,000 new nodes in
            # minutes (one patch each); a local API server takes far more.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ]

    def _scheduler_argv(self, port: int) -> list[str]:
        kubeconfig = str(self.kubeconfig)
        return [
            str(self.bin_dir / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--v=1",
        ]

    def _kwok_argv(self, port: int) -> list[str]:
        # --server-address serves /healthz (plain HTTP), only after kwok's controllers
        # started. The Lease per node (kube-node-lease) is kwok's heartbeat: the node
        # lifecycle controller keeps a node Ready while its Lease is renewed.
        return [
            str(self.bin_dir / "kwok"),
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=true",
            f"--config={self.kwok_config}",
            "--node-lease-duration-seconds=40",
            # Node InternalIP / pod hostIP; pod IPs from OpenShift's default cluster
            # network (kwok's default 10.0.0.1/24 overlaps our service range).
            "--node-ip=127.0.0.1",
            "--cidr=10.128.0.1/14",
            f"--server-address=127.0.0.1:{port}",
        ]

    def cleanup(self) -> None:
        """Remove etcd's data (on tmpfs) after stop()."""
        data = getattr(self, "_etcd_data", None)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


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


def _https_healthz(port: int) -> str:
    return f"https://127.0.0.1:{port}/healthz"


def _http_healthz(port: int) -> str:
    return f"http://127.0.0.1:{port}/healthz"


def _retry_on_port_clash(start: Callable[[], None], forget: Callable[[], None]) -> None:
    # free_port() can't reserve a port: another process may take it before our child
    # binds. Such a clash is retried with fresh ports; any other failure is final.
    for attempt in range(3):
        try:
            start()
            return
        except ControlPlaneError as exc:
            if "address already in use" not in str(exc) or attempt == 2:
                raise
            forget()


def kubeconfig_text(url: str, ca_file: Path, user: str, token: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: {url}\n"
        f"    certificate-authority: {ca_file}\n"
        f"users:\n- name: {user}\n  user:\n    token: {token}\n"
        f"contexts:\n- name: local\n  context:\n    cluster: local\n    user: {user}\n"
        "current-context: local\n"
    )


def apply_crds(kubeconfig: Path, timeout: float = 60) -> None:
    """Apply manifests/crds and wait until every CRD is Established."""
    kubectl = [kube_paths.kubectl(), f"--kubeconfig={kubeconfig}"]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-k", str(CRD_DIR)], check=True, capture_output=True
    )
    subprocess.run(
        [
            *kubectl,
            "wait",
            "--for=condition=Established",
            f"--timeout={int(timeout)}s",
            "crd",
            "--all",
        ],
        check=True,
        capture_output=True,
    )


ClientOrKubeconfig = kubernetes.client.ApiClient | Path | str


@contextlib.contextmanager
def _api_client(target: ClientOrKubeconfig) -> Iterator[kubernetes.client.ApiClient]:
    if isinstance(target, kubernetes.client.ApiClient):
        yield target
        return
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(target), client_configuration=config)
    with kubernetes.client.ApiClient(config) as client:
        yield client


def kwok_node(name: str, arch: str, labels: Mapping[str, str]) -> kubernetes.client.V1Node:
    """A Node as a kubelet registers it, for kwok to make Ready: architecture and OS in
    the well-known labels and in status.nodeInfo; no conditions (kwok's node-initialize
    stage posts them), no kwok taint (pods would need a toleration for it)."""
    return kubernetes.client.V1Node.model_validate(
        {
            "metadata": {
                "name": name,
                "labels": {
                    fakenodes.ARCH_LABEL: arch,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": name,
                    **labels,
                },
                # Only needed with kwok --manage-nodes-with-annotation-selector; it also
                # tells a reader the node is fake.
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            },
            "status": {"nodeInfo": {**fakenodes.node_info(arch), "operatingSystem": "linux"}},
        }
    )


def add_nodes(
    client_or_kubeconfig: ClientOrKubeconfig,
    arches: Sequence[str] = ARCHES,
    per_arch: int = 1,
    labels: Mapping[str, str] = MappingProxyType({}),
    prefix: str = "kwok",
) -> list[str]:
    """Create `per_arch` kwok-managed fake Nodes of each architecture, named
    `<prefix>-<arch>-<i>`, with `labels` added; returns their names. They start NotReady
    and tainted node.kubernetes.io/not-ready (by the API server); see wait_nodes_ready.
    A name that exists already is an error (ApiException 409)."""
    names: list[str] = []
    with _api_client(client_or_kubeconfig) as client:
        core = kubernetes.client.CoreV1Api(client)
        for arch in arches:
            for i in range(per_arch):
                name = f"{prefix}-{arch}-{i}"
                core.create_node(kwok_node(name, arch, labels))
                names.append(name)
    return names


def node_ready(node: Mapping[str, Any]) -> bool:
    """Ready, schedulable and without a not-ready/unreachable taint (a Node as JSON)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    spec = node.get("spec") or {}
    taints = spec.get("taints") or []
    return (
        ready
        and not spec.get("unschedulable")
        and not any(t.get("key") in NOT_READY_TAINTS for t in taints)
    )


def wait_nodes_ready(
    client_or_kubeconfig: ClientOrKubeconfig, names: Sequence[str], timeout: float = 60
) -> None:
    """Wait until every named Node is Ready (kwok) and its not-ready taint is lifted (the
    node lifecycle controller), i.e. the scheduler may bind pods to it."""
    deadline = time.monotonic() + timeout
    waiting = set(names)
    if not waiting:
        return
    with _api_client(client_or_kubeconfig) as client:
        core = kubernetes.client.CoreV1Api(client)
        while True:
            # Raw JSON: the client's models are slow to build for thousands of nodes.
            response: Any = core.list_node(_preload_content=False)
            items = json.loads(response.data)["items"]
            listed = {n["metadata"]["name"]: n for n in items}
            waiting = {
                name for name in waiting if not (name in listed and node_ready(listed[name]))
            }
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"nodes not Ready and untainted after {timeout:.0f}s: {sorted(waiting)}"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def running(
    with_cluster: bool = False,
    workdir: Path | None = None,
    kwok_config: Path | None = DEFAULT_KWOK_CONFIG,
) -> Iterator[ControlPlane]:
    """A started control plane with the CRDs applied, stopped on exit. In cluster mode
    with kwok (kwok_config, default hack/kwok/stages.yaml; None: no kwok)."""
    tmp = workdir or Path(tempfile.mkdtemp(prefix="mosb-cp-"))
    plane = ControlPlane(
        workdir=tmp,
        bin_dir=kube_bin_dir(),
        with_cluster=with_cluster,
        kwok_config=kwok_config if with_cluster else None,
    )
    plane.start()
    try:
        apply_crds(plane.kubeconfig)
        yield plane
    finally:
        plane.stop()
        plane.cleanup()
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up"])
    parser.add_argument(
        "--cluster", action="store_true", help="also scheduler, controller-manager and kwok"
    )
    parser.add_argument(
        "--kwok-config", type=Path, default=DEFAULT_KWOK_CONFIG, help="kwok Stages (--cluster)"
    )
    parser.add_argument(
        "--nodes-per-arch",
        type=int,
        default=1,
        help=f"fake nodes per architecture ({', '.join(ARCHES)}) with --cluster; 0: none",
    )
    parser.add_argument("--dir", type=Path, default=None, help="work dir (kubeconfig, logs)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with running(
        with_cluster=args.cluster, workdir=args.dir, kwok_config=args.kwok_config
    ) as plane:
        if args.cluster and args.nodes_per_arch > 0:
            names = add_nodes(plane.kubeconfig, ARCHES, args.nodes_per_arch)
            wait_nodes_ready(plane.kubeconfig, names)
            print(f"nodes Ready: {' '.join(names)}")
        print(f"control plane up in {time.monotonic() - started:.1f}s (logs in {plane.workdir})")
        print(f"export KUBECONFIG={plane.kubeconfig}")
        wait_for_stop()
    return 0


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM; the caller's `with` blocks then stop everything."""
    print("Ctrl-C stops everything.", flush=True)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    signal.sigwait(stop_signals)


if __name__ == "__main__":
    sys.exit(main())
