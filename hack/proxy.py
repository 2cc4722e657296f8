"""A real HTTP CONNECT proxy on loopback for tests: Debian's ``tinyproxy``.

``LocalProxy`` runs its own tinyproxy (never the package's service) on a free port of
127.0.0.1, accepting clients from 127.0.0.1 only and forwarding to any port (no
``ConnectPort`` line: all are allowed), logging every request it is asked to forward.
``requests()`` reads that log: which ``METHOD target`` went through it, so a test can say
which traffic took the proxy. Like the registry it runs in its own session and dies with
the process that started it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hack.registry import popen_dying_with_parent

# tinyproxy's line for each request, at LogLevel Connect:
#   CONNECT   Nov 29 08:32:23.808 [6815]: Request (file descriptor 5): CONNECT host:port HTTP/1.1
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (?P<method>[A-Z]+) (?P<target>\S+) ")


def missing() -> list[str]:
    return [] if shutil.which("tinyproxy") else ["tinyproxy"]


def own_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (`hostname -I`), for a
    registry Go's clients will send through a proxy; None if it has none."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    found = [a for a in out.stdout.split() if re.fullmatch(r"\d+(\.\d+){3}", a)]
    return next((a for a in found if not a.startswith("127.")), None)


class LocalProxy:
    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="mosb-proxy-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "tinyproxy.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        for _attempt in range(5):  # a free port can be taken between probe and bind
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            config = self.workdir / "tinyproxy.conf"
            config.write_text(
                f"Port {self.port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 600\n"
                f'MaxClients 100\nLogLevel Connect\nLogFile "{self.log_path}"\n'
            )
            self._out = (self.workdir / "tinyproxy.out").open("ab")
            self._proc = popen_dying_with_parent(
                ["tinyproxy", "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT,
            )
            if self._wait_listening(timeout):
                return self
            self.stop()
        raise RuntimeError(f"tinyproxy did not start; see {self.workdir}")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(self._address(), 1):
                return True
            time.sleep(0.05)
        return False

    def _address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def requests(self) -> list[tuple[str, str]]:
        """(method, target) of every request forwarded so far, in order."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [(m["method"], m["target"]) for m in _REQUEST.finditer(text)]
