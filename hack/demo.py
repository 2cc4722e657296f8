"""The main job on a local heterogeneous cluster: `hack/up.sh` runs this.

Brings up etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok with fake
nodes of four architectures, the real registry with a multi-architecture base image, the
node harness that runs build and push pods for real, and the operator. Then creates a
worker pool and a MachineOSConfig with RUN steps, shows the MachineOSBuild's progress
live, and ends with `kubectl get machineosbuilds`, `kubectl describe` of the build, the
platforms of the published manifest list and what each image's RUN step wrote. Ctrl-C
(or --once) stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes.client import ApiException

from api import Mode, published_config_name
from hack import bases, controlplane, imagefiles, kube_paths, localcluster
from hack.localcluster import LocalCluster

# RUN steps run for every architecture: natively on a real cluster; here through
# qemu-user binfmt (hack/binfmt.sh), standing in for the native CPU of each kwok node.
DEMO_FILE = "/etc/mosb-demo"
CONTAINERFILE = (
    'FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.demo="layered for $TARGETARCH"\n'
    f'RUN echo "$(uname -m): the NoArch entry, built for $TARGETARCH" > {DEMO_FILE}\n'
)
ARM64_CONTAINERFILE = (
    "FROM configs AS final\n"
    f'RUN echo "$(uname -m): the ARM64 entry of its own, $(busybox | head -n 1)" > {DEMO_FILE}\n'
)


def progress_line(mosb: dict[str, Any]) -> str:
    for condition in (mosb.get("status") or {}).get("conditions") or []:
        if condition["status"] == "True":
            return f"{condition['type']:<11} {condition['message']}"
    return "(no status yet)"


def watch(local: LocalCluster, pool: str, timeout: float) -> dict[str, Any]:
    """Print each change of the MOSB's state until it finishes; return it."""
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        listed: Any = local.custom.list_cluster_custom_object(
            local.group("machineosbuilds"), localcluster.VERSION, "machineosbuilds",
            label_selector=f"machineconfiguration.openshift.io/machine-os-config={pool}",
        )  # fmt: skip
        found = listed["items"]
        for mosb in found:
            line = f"{mosb['metadata']['name']}  {progress_line(mosb)}"
            if line != last:
                print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)
                last = line
            conditions = {
                c["type"]: c["status"] for c in mosb.get("status", {}).get("conditions", [])
            }
            if any(conditions.get(t) == "True" for t in ("Succeeded", "Failed", "Interrupted")):
                return dict(mosb)
        time.sleep(0.5)
    raise SystemExit(f"no finished MachineOSBuild within {timeout:.0f}s")


def kubectl(local: LocalCluster, *args: str) -> None:
    print(f"\n$ kubectl {' '.join(args)}", flush=True)
    subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={local.plane.kubeconfig}", *args], check=False
    )


def show_published(local: LocalCluster, pool: str, spec: str, timeout: float) -> None:
    """Our MachineConfig, then what each node's architecture resolves to from its image."""
    name = published_config_name(pool)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if local.get("machineconfigs", name)["spec"].get("osImageURL") == spec:
                break
        except ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.5)
    kubectl(local, "get", "machineconfig", name, "-o", "yaml")
    print("\nWhat each node resolves from the published osImageURL (skopeo --override-arch):")
    for node, arch in local.pool_nodes(pool):
        platform, digest = local.resolved(spec, arch)
        print(f"  {node:<18} {arch:<8} -> {platform:<14} {digest}")


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--nodes-per-arch", type=int, default=int(env("MOSB_DEMO_NODES_PER_ARCH", "2"))
    )
    parser.add_argument(
        "--arches", default=env("MOSB_DEMO_ARCHES", ",".join(localcluster.ARCHES)),
        help="comma-separated architectures of the worker pool",
    )  # fmt: skip
    parser.add_argument(
        "--registry-port", type=int, default=int(env("MOSB_DEMO_REGISTRY_PORT", "0"))
    )
    parser.add_argument(
        "--mode", type=Mode, default=Mode(env("MOSB_DEMO_MODE", Mode.BUILDER.value)),
        help="builder, or alongside-mco (our own MOSC/MOSB group, a MachineConfig publishes)",
    )  # fmt: skip
    parser.add_argument(
        "--real-node", action="store_true", default=bool(env("MOSB_DEMO_REAL_NODE")),
        help="amd64 on the real node (kubelet + containerd, hack/realnode.py); one node per arch",
    )  # fmt: skip
    parser.add_argument("--once", action="store_true", help="stop after showing the result")
    parser.add_argument("--dir", type=Path, default=None, help="work dir (kubeconfig, logs)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    arches = [a.strip() for a in args.arches.split(",") if a.strip()]

    missing = bases.run_steps_missing(arches)
    if missing:
        raise SystemExit(f"RUN steps cannot run here: missing {', '.join(missing)}; "
                         + bases.SETUP_HINT)  # fmt: skip
    started = time.monotonic()
    options = {"workdir": args.dir, "registry_port": args.registry_port, "mode": args.mode}
    with localcluster.running(real_node=args.real_node, **options) as local:
        print(f"cluster, registry and operator up in {time.monotonic() - started:.1f}s")
        local.add_pool("worker", arches, 1 if args.real_node else args.nodes_per_arch)
        local.apply_mosc("worker", [("NoArch", CONTAINERFILE), ("ARM64", ARM64_CONTAINERFILE)])
        mosb = watch(local, "worker", args.timeout)
        kind = "machineosbuild" if args.mode is Mode.BUILDER else "mamosb"
        kubectl(local, "get", kind)
        kubectl(local, "describe", kind, mosb["metadata"]["name"])
        spec = (mosb.get("status") or {}).get("digestedImagePushSpec")
        if spec:
            print(f"\nPublished {spec}")
            for platform, digest in local.platforms(spec):
                print(f"  {platform:<14} {digest}")
            print(f"\nWhat each image's RUN step wrote ({DEMO_FILE}):")
            for image in imagefiles.per_platform(local.registry, spec, DEMO_FILE).values():
                print(f"  {image['platform']:<14} {(image['content'] or '(nothing)').strip()}")
        if spec and args.mode is Mode.ALONGSIDE_MCO:
            show_published(local, "worker", spec, args.timeout)
        print(f"\nexport KUBECONFIG={local.plane.kubeconfig}")
        print(f"operator log: {local.workdir / 'operator.log'}")
        print(f"total {time.monotonic() - started:.1f}s", flush=True)
        if not args.once:
            controlplane.wait_for_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
