"""TEST FIXTURE: one real node in the local cluster, beside kwok's fake ones.

The pinned kubelet (hack/build-kube.sh) with Debian's containerd, runc and CNI plugins
registers this amd64 machine as Node `real-amd64-0`, with the labels a kubelet gives
(kubernetes.io/arch, os, hostname). Its pods run for real in containers, in network
namespaces on the bridge `mosb0` (hack/nodenet.py); the registry and the API server are
reached on the bridge's address, nothing else. kwok manages only the Nodes annotated
`kwok.x-k8s.io/node` (hack/clustercomponents.py), the node harness only pods on such
Nodes, so neither touches this one.

Everything the node writes lives under its work directory: containerd's own config,
socket, root and state (the machine's containerd, if any, is left alone), the kubelet's
root, certificates and pod logs, the CNI config and IP allocations. The processes run in
their own sessions and die with their parent (hack/processes.py); `stop` removes the
node's pods first so no container outlives it.

One node runs at a time on a machine; the kubelet's kernel parameters are put back and
a killed run's leftovers removed (hack/nodehost.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import kubernetes
from kubernetes.client import ApiException

from hack import controlplane, fakenodes, kube_paths, nodehost, nodeimages, nodenet
from hack.clustercomponents import REAL_NODE
from hack.processes import ControlPlaneError, Process, free_port, spawn
from hack.registry import LocalRegistry

CNI_BIN = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
SETUP_HINT = "run hack/setup.sh as root (containerd, runc, CNI plugins, kubelet, node images)"


def missing() -> list[str]:
    """What this machine lacks to run the real node; empty when nothing."""
    found: list[str] = []
    if os.geteuid() != 0:
        found.append("root (the kubelet and containerd run as root)")
    if not (kube_paths.cached_bin_dir() / "kubelet").exists():
        found.append("the pinned kubelet (hack/build-kube.sh)")
    for tool in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip"):
        if not any((Path(d) / tool).exists() for d in ("/usr/bin", "/usr/sbin", "/sbin")):
            found.append(tool)
    found += [f"CNI plugin {p}" for p in CNI_PLUGINS if not (CNI_BIN / p).exists()]
    if nodeimages.layout() is None:
        found.append(f"the node images ({nodeimages.cache_dir()})")
    return found


def containerd_config(work: Path, registry: LocalRegistry, pause: str) -> str:
    """containerd 1.6: overlayfs, runc with cgroupfs (as the kubelet's cgroupDriver), our
    CNI config, and the local registry trusted (its CA) and logged in to (htpasswd)."""
    reg = f'plugins."io.containerd.grpc.v1.cri".registry.configs."{registry.host}"'
    return f"""version = 2
root = "{work}/root"
state = "{work}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{work}/containerd.sock"
[ttrpc]
  address = "{work}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_apparmor = true
  # This machine's root lacks CAP_SYS_RESOURCE: never ask runc to lower a process's
  # oom_score_adj (the kubelet asks -998 for sandboxes), cap it at containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{work}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{work}/net.d"
  [{reg}.tls]
    ca_file = "{registry.ca_dir / "ca.crt"}"
  [{reg}.auth]
    username = "{registry.username}"
    password = "{registry.password}"
"""


def cni_config(work: Path) -> str:
    """The pods' network: the bridge with addresses from its subnet, no default route,
    no masquerading: a pod reaches the bridge's address (this machine), other pods and
    the `kubernetes` Service."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "mosb",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": nodenet.BRIDGE,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [
                            [{"subnet": nodenet.SUBNET, "rangeStart": nodenet.FIRST_POD_IP}]
                        ],
                        # Service addresses via this machine (hack/nodenet.py)
                        "routes": [{"dst": nodenet.SERVICE_RANGE, "gw": nodenet.BRIDGE_IP}],
                        "dataDir": str(work / "ipam"),
                    },
                }
            ],
        }
    )


def kubelet_config(work: Path, runtime: Path, port: int, healthz: int) -> str:
    """The API server reaches this kubelet (logs, exec) unauthenticated: it has no client
    certificate for kubelets here, and the kubelet listens on the bridge address only."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": nodenet.BRIDGE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{runtime}",
        "failSwapOn": False,
        "failCgroupV1": False,  # this machine kind mounts cgroups v1 (plus unified)
        "podLogsDir": str(work / "pod-logs"),
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        # The machine's disk is shared; only a nearly full one should evict.
        "evictionHard": {"nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
    }
    return json.dumps(config)


class RealNode:
    """The node; `start()` returns once it is Ready and untainted, `stop()` ends it."""

    def __init__(
        self, plane: controlplane.ControlPlane, registry: LocalRegistry, workdir: Path
    ) -> None:
        self.plane, self.registry = plane, registry
        self.workdir = workdir
        self.name = REAL_NODE
        self.processes: list[Process] = []
        self.images: dict[str, str] = {}  # name in hack/build-node-images.sh → reference
        self._sysctls: dict[str, str] = {}
        self._held = contextlib.ExitStack()  # the machine's real-node lock while running
        self._locked = False

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    def check(self) -> None:
        """Fail now, saying what is missing, if the node cannot start on this machine."""
        lacking = missing()
        if lacking:
            raise ControlPlaneError(f"the real node cannot start: missing {', '.join(lacking)}")

    def start(self, timeout: float = 120) -> RealNode:
        self.check()
        nodenet.ensure_bridge()
        self.images = nodeimages.push_all(self.registry)
        try:
            self._held.enter_context(nodehost.exclusive())
            self._locked = True
            nodehost.reap_orphan_shims()  # a killed run's, now that no node runs
            nodehost.remove_leftovers()
            nodenet.route_kubernetes_service(self.plane.apiserver_port)
            self._start_containerd(timeout)
            self._start_kubelet()
            fakenodes.wait_nodes_ready(self.plane.kubeconfig, [self.name], timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_containerd(self, timeout: float) -> None:
        work = self.workdir / "containerd"
        (work / "net.d").mkdir(parents=True, exist_ok=True)
        (work / "net.d" / "10-mosb.conflist").write_text(cni_config(work))
        config = work / "config.toml"
        config.write_text(containerd_config(work, self.registry, self.images["pause-amd64"]))
        config.chmod(0o600)  # it holds the registry's password
        proc = spawn(self.workdir, "containerd", ["containerd", "--config", str(config)])
        self.processes.append(proc)
        deadline = time.monotonic() + timeout
        while not self._ctr_ok("version"):
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise ControlPlaneError(f"containerd did not start:\n{proc.log_tail()}")
            time.sleep(0.1)

    def _start_kubelet(self) -> None:
        work = self.workdir / "kubelet"
        work.mkdir(parents=True, exist_ok=True)
        config = work / "config.yaml"
        config.write_text(kubelet_config(work, self.socket, free_port(), free_port()))
        kubeconfig = work / "kubeconfig"
        user = f"system:node:{self.name}"
        plane = self.plane
        kubeconfig.write_text(
            controlplane.kubeconfig_text(plane.url, plane.ca_file, user, plane.node_token)
        )
        kubeconfig.chmod(0o600)
        self._sysctls = nodehost.save_sysctls()
        argv = [
            str(kube_paths.cached_bin_dir() / "kubelet"),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={work / 'root'}",
            f"--cert-dir={work / 'pki'}",
            f"--hostname-override={self.name}",
            f"--node-ip={nodenet.BRIDGE_IP}",
            "--v=1",
        ]
        self.processes.append(spawn(self.workdir, "kubelet", argv))

    def stop(self) -> None:
        """Delete the node's pods and wait until the kubelet has stopped their containers
        and sandboxes (their network namespaces go with them); then stop the kubelet and
        containerd, and kill whatever container is left."""
        kubelet = next((p for p in self.processes if p.name == "kubelet"), None)
        if kubelet is not None and kubelet.popen.poll() is None:
            self._drain()
        for proc in reversed(self.processes):
            if proc.name == "containerd":
                self._kill_tasks()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        self.processes.clear()
        nodenet.unroute_kubernetes_service(self.plane.apiserver_port)
        if self._sysctls:
            nodehost.restore_sysctls(self._sysctls)
            self._sysctls = {}
        nodenet.unmount_under(self.workdir)
        if self._locked:  # no other node runs: what is left is ours
            nodehost.remove_leftovers()
        self._held.close()
        self._locked = False

    def _drain(self, timeout: float = 60) -> None:
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(self.plane.kubeconfig), client_configuration=config
        )
        with kubernetes.client.ApiClient(config) as client:
            core = kubernetes.client.CoreV1Api(client)
            selector = f"spec.nodeName={self.name}"
            with contextlib.suppress(ApiException):
                core.patch_node(self.name, {"spec": {"unschedulable": True}})
            for pod in core.list_pod_for_all_namespaces(field_selector=selector).items:
                assert pod.metadata is not None
                with contextlib.suppress(ApiException):
                    core.delete_namespaced_pod(
                        str(pod.metadata.name), str(pod.metadata.namespace), grace_period_seconds=1
                    )
        deadline = time.monotonic() + timeout
        while self._running_tasks() and time.monotonic() < deadline:
            time.sleep(0.5)

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    def _ctr_ok(self, *args: str) -> bool:
        return self.socket.exists() and self._ctr(*args).returncode == 0

    def _running_tasks(self) -> list[str]:
        done = self._ctr("tasks", "list", "--quiet")
        return done.stdout.split() if done.returncode == 0 else []

    def _kill_tasks(self) -> None:
        """The last resort: containers the kubelet did not stop (it may have died)."""
        for task in self._running_tasks():
            self._ctr("tasks", "kill", "--signal", "SIGKILL", task)
            self._ctr("tasks", "delete", "--force", task)
