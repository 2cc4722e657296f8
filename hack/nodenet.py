"""TEST FIXTURE: the real node's pod network on this machine (hack/realnode.py).

One Linux bridge, `mosb0`, with the address 10.201.0.1/24: the CNI bridge plugin puts each
pod's veth on it and gives the pod an address of that subnet, with no default route and
no masquerading. A pod reaches this machine's bridge address, where the node's registry
(and, for the operator's pod, the API server) listen, and nothing beyond: no forwarding,
no NAT rule, no iptables rule of ours. The subnet is outside the local cluster's Service
range (10.0.0.0/24), kwok's pod range (10.128.0.0/14) and podman's default (10.88.0.0/16).

`ensure_bridge` is idempotent and only adds: the bridge stays between runs (other users
of the machine never see traffic on it), so runs in parallel share it.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

BRIDGE = "mosb0"
BRIDGE_IP = "10.201.0.1"
SUBNET = "10.201.0.0/24"
FIRST_POD_IP = "10.201.0.10"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def ensure_bridge() -> None:
    """The bridge exists, is up and holds BRIDGE_IP (so servers can bind to it)."""
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        created = _ip("link", "add", BRIDGE, "type", "bridge", check=False)
        # A parallel run may have created it meanwhile: only its absence is an error.
        if created.returncode != 0 and _ip("link", "show", BRIDGE, check=False).returncode:
            raise RuntimeError(f"cannot create bridge {BRIDGE}: {created.stderr.strip()}")
    if f" {BRIDGE_IP}/" not in _ip("-4", "addr", "show", "dev", BRIDGE).stdout:
        added = _ip("addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE, check=False)
        if added.returncode != 0 and "File exists" not in added.stderr:
            raise RuntimeError(f"cannot address bridge {BRIDGE}: {added.stderr.strip()}")
    _ip("link", "set", BRIDGE, "up")


def unmount_under(directory: Path) -> None:
    """Unmount what the kubelet and containerd left mounted below `directory` (secret
    volumes' tmpfs, container root filesystems), deepest first, so it can be removed."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    prefix = str(directory.resolve()) + "/"
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False, timeout=30)


# -- the `kubernetes` Service, for the operator's own pod ---------------------------------
# Stands in for kube-proxy for the one Service a pod here uses: its in-cluster client
# dials the `kubernetes` Service (10.0.0.1:443, the first address of the API server's
# --service-cluster-ip-range; the pods' route to that range goes via the bridge), and one
# DNAT rule, for packets arriving from the bridge only, sends it to the API server on
# loopback. route_localnet on the bridge alone lets those packets reach 127.0.0.1; the
# API server's own certificate names 10.0.0.1, so the client verifies it as usual.
SERVICE_IP = "10.0.0.1"
SERVICE_RANGE = "10.0.0.0/24"
SERVICE_COMMENT = "mosb-controller real node: the kubernetes Service"


def _service_rule(api_port: int) -> list[str]:
    return [
        "PREROUTING", "-i", BRIDGE, "-d", SERVICE_IP, "-p", "tcp", "--dport", "443",
        "-m", "comment", "--comment", SERVICE_COMMENT,
        "-j", "DNAT", "--to-destination", f"127.0.0.1:{api_port}",
    ]  # fmt: skip


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    argv = ["iptables", "-w", "-t", "nat", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def route_kubernetes_service(api_port: int) -> None:
    """Only while no other node runs (hack/nodehost.py `exclusive`): a killed run's rule,
    to its API server's old port, is replaced."""
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet").write_text("1")
    listed = _iptables("-S", "PREROUTING").stdout.splitlines()
    for rule in (r for r in listed if SERVICE_COMMENT in r and r.startswith("-A ")):
        _iptables("-D", *shlex.split(rule)[1:])
    added = _iptables("-A", *_service_rule(api_port))
    if added.returncode != 0:
        raise RuntimeError(f"cannot route the kubernetes Service: {added.stderr.strip()}")


def unroute_kubernetes_service(api_port: int) -> None:
    _iptables("-D", *_service_rule(api_port))
