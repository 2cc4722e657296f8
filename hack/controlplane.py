"""A real local Kubernetes control plane without containers.

etcd (Debian's etcd-server) + kube-apiserver, and on request kube-scheduler,
kube-controller-manager and kwok, built by hack/build-kube.sh at pinned versions. Every
process runs on loopback ports chosen at start, in its own session, and dies with its
parent (PR_SET_PDEATHSIG) so an interrupted test run leaves nothing behind.

Used by the test fixtures, the demo and the benchmarks; runnable on its own:
    python hack/controlplane.py up [--cluster] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "manifests" / "crds"
_PR_SET_PDEATHSIG = 1


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
    """Start with `start()`; `stop()` (or the context manager) ends every process."""

    workdir: Path
    bin_dir: Path
    with_cluster: bool = False  # scheduler + controller-manager + kwok
    kwok_config: Path | None = None
    processes: list[Process] = field(default_factory=list)
    apiserver_port: int = 0
    token: str = ""
    controller_token: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def controller_kubeconfig(self) -> Path:
        """A kubeconfig for the operator as user `mosb-controller` (a cluster admin until
        the RBAC manifests take over): its requests are told apart in the audit log."""
        return self.workdir / "controller.kubeconfig"

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
                self._start_cluster_components()
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

    def stop_component(self, name: str) -> None:
        """Stop one process (e.g. "kube-apiserver" to test reconnection)."""
        for proc in self.processes:
            if proc.name == name and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
                proc.popen.wait(timeout=15)

    def _forget_last(self) -> None:
        """Drop the last started process after it failed (e.g. its port was taken)."""
        proc = self.processes.pop()
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
        self.controller_token = self.controller_token or secrets.token_hex(16)
        tokens = certs / "tokens.csv"
        tokens.write_text(
            f"{self.token},admin,admin,system:masters\n"
            f"{self.controller_token},mosb-controller,mosb-controller,system:masters\n"
        )
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
        # Metadata-level audit of the operator's requests only (its user or its service
        # accounts): tests and benchmarks count the controller's API calls from it.
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
            "rules:\n"
            "- level: Metadata\n  users: [mosb-controller]\n"
            "- level: Metadata\n  userGroups: ['system:serviceaccounts:mosb-controller']\n"
            "- level: None\n"
        )
        return policy

    def _write_kubeconfig(self) -> None:
        for path, user, token in (
            (self.kubeconfig, "admin", self.token),
            (self.controller_kubeconfig, "mosb-controller", self.controller_token),
        ):
            path.write_text(kubeconfig_text(self.url, self.ca_file, user, token))
            path.chmod(0o600)

    def _start_cluster_components(self) -> None:
        sa_key = self.workdir / "certs" / "sa.key"
        kubeconfig = str(self.kubeconfig)
        cm_port, sched_port = free_port(), free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={cm_port}",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=false",
                "--controllers=job,garbagecollector,serviceaccount,serviceaccount-token,"
                "namespace,ttl-after-finished,podgc",
                "--concurrent-job-syncs=10",
                "--v=1",
            ],
        )
        sched = self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                "--v=1",
            ],
        )
        self._wait(sched, f"https://127.0.0.1:{sched_port}/healthz", 60)
        if self.kwok_config is not None:
            self._spawn(
                "kwok",
                [
                    str(self.bin_dir / "kwok"),
                    f"--kubeconfig={kubeconfig}",
                    "--manage-all-nodes=true",
                    f"--config={self.kwok_config}",
                    "--node-lease-duration-seconds=40",
                    "--server-address=127.0.0.1:0",
                ],
            )

    def cleanup(self) -> None:
        """Remove etcd's data (on tmpfs) after stop()."""
        data = getattr(self, "_etcd_data", None)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


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
    kubectl = ["kubectl", f"--kubeconfig={kubeconfig}"]
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


@contextlib.contextmanager
def running(with_cluster: bool = False, workdir: Path | None = None) -> Iterator[ControlPlane]:
    """A started control plane with the CRDs applied, stopped on exit."""
    tmp = workdir or Path(tempfile.mkdtemp(prefix="mosb-cp-"))
    plane = ControlPlane(workdir=tmp, bin_dir=kube_bin_dir(), with_cluster=with_cluster)
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
    parser.add_argument("--cluster", action="store_true", help="also scheduler, controller-manager")
    parser.add_argument("--dir", type=Path, default=None, help="work dir (kubeconfig, logs)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with running(with_cluster=args.cluster, workdir=args.dir) as plane:
        print(f"control plane up in {time.monotonic() - started:.1f}s")
        print(f"export KUBECONFIG={plane.kubeconfig}")
        print("Ctrl-C stops everything.", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
