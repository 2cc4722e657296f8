"""The main job on a local control plane: `hack/up.sh` runs this.

Starts etcd + kube-apiserver with the CRDs, the operator as a process, a heterogeneous
set of nodes (amd64, arm64, ppc64le, s390x) and two pools (a heterogeneous `worker` and
an amd64-only `infra`), waits for the architecture record and prints it. Stays up until
Ctrl-C unless --once; everything it started stops with it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import kubernetes

import controlplane
import fakenodes
from operatorproc import OperatorProcess

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
NAMESPACE = "mosb-controller"
ARCHES = ("amd64", "arm64", "ppc64le", "s390x")


def make_node(name: str, arch: str, role: str) -> kubernetes.client.V1Node:
    labels = {fakenodes.ARCH_LABEL: arch, f"node-role.kubernetes.io/{role}": ""}
    return fakenodes.node(name, labels, info_arch=arch)


def make_pool(name: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MachineConfigPool",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"matchLabels": {f"node-role.kubernetes.io/{role}": ""}},
            "machineConfigSelector": {},
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes-per-arch", type=int, default=2)
    parser.add_argument("--once", action="store_true", help="print the record and stop")
    parser.add_argument("--dir", type=Path, default=None, help="work dir (kubeconfig, logs)")
    args = parser.parse_args()

    started = time.monotonic()
    with controlplane.running(workdir=args.dir) as plane:
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(plane.kubeconfig), client_configuration=config
        )
        with kubernetes.client.ApiClient(config) as client:
            core = kubernetes.client.CoreV1Api(client)
            custom = kubernetes.client.CustomObjectsApi(client)
            core.create_namespace(kubernetes.client.V1Namespace(metadata={"name": NAMESPACE}))
            operator = OperatorProcess(
                plane.controller_kubeconfig, NAMESPACE, plane.workdir / "operator.log"
            )
            operator.start()
            try:
                for pool, role in (("worker", "worker"), ("infra", "infra")):
                    custom.create_cluster_custom_object(
                        GROUP, VERSION, "machineconfigpools", make_pool(pool, role)
                    )
                for arch in ARCHES:
                    for i in range(args.nodes_per_arch):
                        core.create_node(make_node(f"worker-{arch}-{i}", arch, "worker"))
                core.create_node(make_node("infra-amd64-0", "amd64", "infra"))
                show_record(core, custom, plane.kubeconfig)
                print(f"\nup in {time.monotonic() - started:.1f}s")
                print(f"export KUBECONFIG={plane.kubeconfig}   # operator log: {operator.log_path}")
                if not args.once:
                    print("Ctrl-C stops everything.", flush=True)
                    stop = {signal.SIGINT, signal.SIGTERM}
                    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
                    signal.sigwait(stop)
            finally:
                operator.stop()
    return 0


def show_record(
    core: kubernetes.client.CoreV1Api, custom: kubernetes.client.CustomObjectsApi, kubeconfig: Path
) -> None:
    deadline = time.monotonic() + 30
    want = ",".join(ARCHES)
    while time.monotonic() < deadline:
        pool = cast(
            dict[str, Any],
            custom.get_cluster_custom_object(GROUP, VERSION, "machineconfigpools", "worker"),
        )
        if (pool["metadata"].get("annotations") or {}).get(
            "mosb-controller.io/architectures"
        ) == want:
            break
        time.sleep(0.2)
    else:
        raise SystemExit("the operator did not record the worker pool's architectures in 30s")
    subprocess.run(
        [
            "kubectl",
            f"--kubeconfig={kubeconfig}",
            "get",
            "machineconfigpools",
            "-o",
            "custom-columns=POOL:.metadata.name,"
            "ARCHITECTURES:.metadata.annotations.mosb-controller\\.io/architectures",
        ],
        check=True,
    )
    data = core.read_namespaced_config_map("mosb-architectures", NAMESPACE).data or {}
    print(f"\nConfigMap {NAMESPACE}/mosb-architectures:")
    for key, value in sorted(data.items()):
        print(f"  {key}: {json.dumps(json.loads(value))}")


if __name__ == "__main__":
    sys.exit(main())
