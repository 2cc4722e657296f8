"""A real local Kubernetes control plane without containers.

etcd (Debian's etcd-server) + kube-apiserver, and on request kube-scheduler,
kube-controller-manager and kwok, built by hack/build-kube.sh at pinned versions. Every
process runs on loopback ports chosen at start, in its own session, and dies with its
parent (PR_SET_PDEATHSIG) so an interrupted test run leaves nothing behind.

In cluster mode kwok plays the kubelet of fake Nodes (see hack/kwok/stages.yaml, and
add_nodes / wait_nodes_ready in hack/fakenodes.py): the real scheduler binds pods to
them, the real Job controller, garbage collector and node lifecycle controller act on them.

This module starts, waits on and stops the processes; their command lines are in
hack/clustercomponents.py, the process plumbing in hack/processes.py. Used by the test
fixtures, the demo and the benchmarks; runnable on its own:
    python -m hack.controlplane up [--cluster [--kwok-config FILE] [--nodes-per-arch N]]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hack import crdready, kube_paths
from hack.clustercomponents import (
    DEFAULT_KWOK_CONFIG,
    REAL_NODE,
    apiserver_argv,
    check_kwok_config,
    controller_manager_argv,
    etcd_argv,
    kwok_argv,
    scheduler_argv,
)

# What the CLI below does after start; hack/bench/scale.py reaches them through here.
from hack.fakenodes import ARCHES
from hack.fakenodes import add_nodes as add_nodes
from hack.fakenodes import wait_nodes_ready as wait_nodes_ready
from hack.kube_paths import ROOT
from hack.processes import (
    ControlPlaneError,
    Process,
    free_port,
    http_healthz,
    https_healthz,
    retry_on_port_clash,
    spawn,
    wait_ready,
)

CRD_DIR = ROOT / "manifests" / "crds"
# OpenShift's own kinds the operator reads, which only the local cluster needs installed.
OPENSHIFT_CRD_DIR = ROOT / "hack" / "crds"
OPERATOR_USER = "system:serviceaccount:mosb-controller:mosb-controller"


@dataclass
class ControlPlane:
    """Start with `start()`; `stop()` (or the context manager) ends every process.

    Without `with_cluster`: etcd + kube-apiserver only, with the ServiceAccount admission
    plugin off (no controller would create the ServiceAccounts pods name).

    With `with_cluster`: also kube-scheduler and kube-controller-manager (their
    clustercomponents.CONTROLLERS), and kwok when `kwok_config` is given (e.g.
    DEFAULT_KWOK_CONFIG). The ServiceAccount admission plugin is on, as in a real
    cluster: a pod is rejected until its ServiceAccount exists (the controller-manager
    creates `default` in every namespace shortly after the namespace; create any other one
    yourself), and it gets a projected token volume. `start()` returns once the scheduler,
    the controller-manager (healthy, and its controllers running: `default/default`
    ServiceAccount exists) and kwok (healthy) are up; add nodes with
    fakenodes.add_nodes() and wait_nodes_ready().
    """

    workdir: Path
    bin_dir: Path
    with_cluster: bool = False  # scheduler + controller-manager (+ kwok with kwok_config)
    kwok_config: Path | None = None
    processes: list[Process] = field(default_factory=list)
    apiserver_port: int = 0
    token: str = ""
    node_token: str = ""  # the real node's kubelet's (hack/realnode.py), as system:node:…

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
            retry_on_port_clash(lambda: self._start_etcd(timeout), self._forget_last)
            retry_on_port_clash(lambda: self._start_apiserver(timeout), self._forget_last)
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
        proc = spawn(self.workdir, name, argv)
        self.processes.append(proc)
        return proc

    def _wait(self, proc: Process, ready: str, timeout: float) -> None:
        wait_ready(proc, ready, timeout, self.token)

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
        proc = self._spawn("etcd", etcd_argv(etcd, data_root, self.etcd_url, peer))
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
        self.node_token = self.node_token or secrets.token_hex(16)
        node = f"system:node:{REAL_NODE}"
        tokens = certs / "tokens.csv"
        tokens.write_text(
            f"{self.token},admin,admin,system:masters\n{self.node_token},{node},{node},system:nodes\n"
        )
        tokens.chmod(0o600)
        self.apiserver_port = self.apiserver_port or free_port()
        argv = apiserver_argv(
            self.bin_dir,
            etcd_url=self.etcd_url,
            certs=certs,
            port=self.apiserver_port,
            tokens=tokens,
            sa_key=sa_key,
            audit_log=self.audit_log,
            audit_policy=self._audit_policy(),
            service_account_admission=self.with_cluster,
        )
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
        bin_dir, kubeconfig, kwok_config = self.bin_dir, self.kubeconfig, self.kwok_config
        sa_key = self.workdir / "certs" / "sa.key"
        components: list[tuple[str, Callable[[int], list[str]], Callable[[int], str]]] = [
            (
                "kube-controller-manager",
                lambda port: controller_manager_argv(
                    bin_dir, kubeconfig, sa_key, self.ca_file, port
                ),
                https_healthz,
            ),
            (
                "kube-scheduler",
                lambda port: scheduler_argv(bin_dir, kubeconfig, port),
                https_healthz,
            ),
        ]
        if kwok_config is not None:
            check_kwok_config(kwok_config)
            components.append(
                (
                    "kwok",
                    lambda port: kwok_argv(bin_dir, kubeconfig, kwok_config, port),
                    http_healthz,
                )
            )
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

    def cleanup(self) -> None:
        """Remove etcd's data (on tmpfs) after stop()."""
        data = getattr(self, "_etcd_data", None)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


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
    """Apply manifests/crds and hack/crds, and wait until every CRD is Established and
    its watches are served (hack/crdready.py)."""
    kubectl = [kube_paths.kubectl(), f"--kubeconfig={kubeconfig}"]
    for source in (["-k", str(CRD_DIR)], ["-f", str(OPENSHIFT_CRD_DIR)]):
        apply = [*kubectl, "apply", "--server-side", *source]
        subprocess.run(apply, check=True, capture_output=True)
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
    crdready.wait_watchable(kubeconfig, timeout)


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
        bin_dir=kube_paths.kube_bin_dir(),
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
