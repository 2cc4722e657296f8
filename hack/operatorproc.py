"""Runs `mosb-controller run` as a real subprocess (tests, benchmarks, the demo)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hack.processes import die_with_parent, free_port

# Short leases: a killed operator's successor takes over within seconds (flags win).
TEST_LEASE_ENV = {
    "MOSB_LEADER_ELECTION_LEASE_DURATION_SECONDS": "4",
    "MOSB_LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "3",
    "MOSB_LEADER_ELECTION_RETRY_PERIOD_SECONDS": "1",
}


@dataclass
class OperatorProcess:
    kubeconfig: Path
    namespace: str
    log_path: Path
    extra_args: Sequence[str] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    port: int = field(default=0, init=False)
    metrics_port: int = field(default=0, init=False)

    def start(self, timeout: float = 60) -> None:
        # Fresh loopback ports each start; flags win over the env, so these hold even
        # when extra_env (e.g. a Deployment's) names others.
        self.port, self.metrics_port = free_port(), free_port()
        env = {
            **TEST_LEASE_ENV,
            **os.environ,
            **self.extra_env,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mosb_controller",
                    "run",
                    f"--namespace={self.namespace}",
                    f"--liveness=http://127.0.0.1:{self.port}/healthz",
                    "--metrics-address=127.0.0.1",
                    f"--metrics-port={self.metrics_port}",
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._wait_live(timeout)

    def _wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"operator exited ({self.popen.returncode}):\n{self.log_tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=1) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"operator not live after {timeout}s:\n{self.log_tail()}")

    def scrape(self) -> str:
        """The Prometheus text exposition of the operator's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def freeze(self) -> None:
        """SIGSTOP: the operator keeps its state but does nothing until killed."""
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGSTOP)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def peak_rss_bytes(self) -> int:
        """VmHWM: the process's peak resident set size so far."""
        assert self.popen is not None
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmHWM not found")

    def cpu_seconds(self) -> float:
        assert self.popen is not None
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""
