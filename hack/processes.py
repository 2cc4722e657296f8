"""Child processes of the local control plane: started in their own session on loopback
ports chosen at start, dying with their parent (PR_SET_PDEATHSIG) so an interrupted run
leaves nothing behind, and waited on until their health endpoint answers."""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message says which part and why."""


def die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM it when the parent thread exits.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# Ports are handed out below the kernel's ephemeral range. bind(0) picks from inside it,
# and so does every outgoing connection: between our check and the child's bind, one of
# the child's own client connections could take the port (seen: kopf's health endpoint
# failing with EADDRINUSE on a port bind(0) had just returned free).
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_FIRST_PORT = 20000
_ports_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port that is free now, outside the ephemeral range, and not handed out
    before by this process (a child may not have bound the last one yet)."""
    last = _ephemeral_start()
    for port in random.sample(range(_FIRST_PORT, last), k=last - _FIRST_PORT):
        if port in _ports_handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_handed_out.add(port)
        return port
    raise ControlPlaneError(f"no free loopback port in {_FIRST_PORT}..{last - 1}")


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


def spawn(workdir: Path, name: str, argv: Sequence[str]) -> Process:
    """Start `argv` in its own session, its output in <workdir>/<name>.log."""
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    log.close()
    return Process(name, popen, log_path)


def wait_ready(proc: Process, ready: str, timeout: float, token: str = "") -> None:
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
        if token:
            request.add_header("Authorization", f"Bearer {token}")
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


def https_healthz(port: int) -> str:
    return f"https://127.0.0.1:{port}/healthz"


def http_healthz(port: int) -> str:
    return f"http://127.0.0.1:{port}/healthz"


def retry_on_port_clash(start: Callable[[], None], forget: Callable[[], None]) -> None:
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
