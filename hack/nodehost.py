"""TEST FIXTURE: what the real node (hack/realnode.py) shares with the rest of this
machine, and how it leaves it as it found it.

- One node at a time: two kubelets would share the /kubepods cgroups, and each removes
  the pod cgroups it does not know (killing the other's containers). `exclusive` holds a
  machine-wide lock while a node runs; another one waits for it.
- The kernel parameters the kubelet sets at start (its container manager):
  vm.overcommit_memory=1, kernel.panic_on_oops=1, … `save_sysctls` keeps the machine's
  values in a file under /run until `restore_sysctls` puts them back, so a node whose
  test process was killed leaves them for the next one to restore.
- containerd's shims outlive it by design. `reap_orphan_shims` kills those whose
  containerd is gone (its socket answers no more), such as a killed run's; their
  containers' processes are in /kubepods, where the next kubelet removes what it does
  not know. `remove_leftovers` unmounts a killed run's volumes and deletes its pods'
  network namespaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
SAVED_SYSCTLS = Path("/run/mosb-controller-realnode.sysctls.json")
LOCK = Path("/run/mosb-controller-realnode.lock")


@contextlib.contextmanager
def exclusive(timeout: float = 900) -> Iterator[None]:
    """Hold the machine's real-node lock (waiting up to `timeout` for another node)."""
    with LOCK.open("w") as held:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another real node holds {LOCK}") from None
                time.sleep(1)
        yield


def read_sysctls() -> dict[str, str]:
    return {n: (Path("/proc/sys") / n).read_text().strip() for n in KUBELET_SYSCTLS}


def save_sysctls() -> dict[str, str]:
    """The machine's values, saved before the kubelet changes them (kept if saved by a
    node that never stopped: the current ones are then the kubelet's)."""
    if SAVED_SYSCTLS.exists():
        return dict(json.loads(SAVED_SYSCTLS.read_text()))
    values = read_sysctls()
    SAVED_SYSCTLS.write_text(json.dumps(values))
    return values


def restore_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        path = Path("/proc/sys") / name
        if path.read_text().strip() != value:
            path.write_text(value)
    SAVED_SYSCTLS.unlink(missing_ok=True)


def _shim_address(pid: str) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not argv or not argv[0].endswith(b"containerd-shim-runc-v2") or b"-address" not in argv:
        return None
    return argv[argv.index(b"-address") + 1].decode()


def _answers(address: str) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(address)
        except OSError:
            return False
    return True


def reap_orphan_shims() -> list[int]:
    """Kill the runc shims whose containerd no longer answers; their pids."""
    reaped = []
    for entry in Path("/proc").iterdir():
        address = _shim_address(entry.name) if entry.name.isdigit() else None
        if address is not None and not _answers(address):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                reaped.append(int(entry.name))
    return reaped


def remove_leftovers() -> None:
    """A killed run's mounts (kubelet volumes, container root filesystems: paths under a
    `realnode/` work directory) and the CNI network namespaces no process is in any more
    (`cni-…`, as containerd names them). Only while holding `exclusive`: no node runs."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1]
        if "/realnode/kubelet/" in target or "/realnode/containerd/" in target:
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    netns = Path("/run/netns")
    for entry in sorted(netns.glob("cni-*")) if netns.is_dir() else []:
        pids = subprocess.run(
            ["ip", "netns", "pids", entry.name], capture_output=True, text=True, check=False
        )
        if pids.returncode == 0 and not pids.stdout.strip():
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)
