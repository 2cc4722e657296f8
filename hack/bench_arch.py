"""Benchmark: architecture detection on the real API server at 1,000 and 5,000 nodes.

For each size: 20 pools, nodes over four architectures, the operator as a real process.
Measures (1) relabel → updated pool annotation *and* ConfigMap (median, p99 over many
trials), (2) API writes the operator makes for 1,000 node status updates that change
nothing (from the API server's audit log), (3) the operator's peak RSS.

    .venv/bin/python -m hack.bench_arch [--sizes 1000 5000] [--trials 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import kubernetes
from kubernetes.client import ApiException

from hack import controlplane, fakenodes, kube_paths, operatoridentity
from hack.operatorproc import OperatorProcess
from mosb_controller.arch import SUPPORTED_ARCHES

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
POOLS = 20
NAMESPACE = "mosb-controller"
ANNOTATION = "mosb-controller.io/architectures"
CONFIGMAP = "mosb-architectures"


def node_body(name: str, arch: str, pool: str) -> kubernetes.client.V1Node:
    """A node about the size of a real one: the usual labels, conditions and nodeInfo."""
    labels = {
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m6.xlarge",
        "topology.kubernetes.io/region": "region-1",
        "topology.kubernetes.io/zone": f"zone-{hash(name) % 3}",
        "node-role.kubernetes.io/worker": "",
        "pool": pool,
    }
    conditions = [
        {"type": t, "status": "False", "reason": f"Kubelet{t}", "message": "ok"}
        for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}]
    status = {
        "conditions": conditions,
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
    }
    return fakenodes.node(name, labels, info_arch=arch, extra_status=status)


def controller_writes(audit_log: Path) -> int:
    """The operator's writes, Lease renewals (leader election's heartbeat) aside."""
    verbs = {"create", "update", "patch", "delete"}
    with audit_log.open() as log:
        events = (json.loads(line) for line in log)
        return sum(
            1
            for e in events
            if e.get("verb") in verbs and (e.get("objectRef") or {}).get("resource") != "leases"
        )


def wait_for(check: Callable[[], bool], timeout: float = 60, interval: float = 0.005) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError("condition not met")


class Bench:
    def __init__(self, plane: controlplane.ControlPlane, client: kubernetes.client.ApiClient):
        self.plane = plane
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)

    def annotation(self, pool: str) -> str | None:
        obj = cast(
            dict[str, Any],
            self.custom.get_cluster_custom_object(GROUP, VERSION, "machineconfigpools", pool),
        )
        value = (obj["metadata"].get("annotations") or {}).get(ANNOTATION)
        return None if value is None else str(value)

    def pool_record(self, pool: str) -> dict[str, Any]:
        try:
            data = self.core.read_namespaced_config_map(CONFIGMAP, NAMESPACE).data or {}
        except ApiException:
            return {}
        return cast(dict[str, Any], json.loads(data.get(f"pool.{pool}.json", "{}")))

    def populate(self, size: int) -> None:
        for i in range(POOLS):
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MachineConfigPool",
                "metadata": {"name": f"p{i}"},
                "spec": {"nodeSelector": {"matchLabels": {"pool": f"p{i}"}}},
            }
            self.custom.create_cluster_custom_object(GROUP, VERSION, "machineconfigpools", body)
        rnd = random.Random(size)  # noqa: S311 - a reproducible layout, not crypto
        # p19 is amd64-only: the probe node (s390x) moving in and out changes its record.
        specs = [
            (f"n{i:05d}", "amd64", "p19")
            if i % POOLS == 19
            else (f"n{i:05d}", rnd.choice(ARCHES), f"p{i % POOLS}")
            for i in range(size - 1)
        ]
        specs.append(("probe", "s390x", "p0"))
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda s: self.core.create_node(node_body(*s)), specs))

    def relabel_trials(self, trials: int) -> list[float]:
        times = []
        for trial in range(trials):
            target = "p19" if trial % 2 == 0 else "p0"
            want = "amd64,s390x" if target == "p19" else "amd64"
            start = time.monotonic()
            self.core.patch_node("probe", {"metadata": {"labels": {"pool": target}}})
            wait_for(lambda w=want: self.annotation("p19") == w)  # type: ignore[misc]
            wait_for(
                lambda w=want: ",".join(self.pool_record("p19").get("architectures", [])) == w  # type: ignore[misc]
            )
            times.append(time.monotonic() - start)
        return times

    def idle_churn_writes(self, updates: int, size: int) -> int:
        # Settle, then count writes between two marker changes around the churn.
        self.core.patch_node("probe", {"metadata": {"labels": {"pool": "p0"}}})
        wait_for(lambda: self.annotation("p19") == "amd64")
        time.sleep(2)
        before = controller_writes(self.plane.audit_log)
        names = [f"n{i % (size - 1):05d}" for i in range(updates)]

        def heartbeat(item: tuple[int, str]) -> None:
            i, name = item
            self.core.patch_node_status(
                name,
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "ready",
                                "lastHeartbeatTime": f"2026-01-01T{i // 3600:02d}:"
                                f"{i // 60 % 60:02d}:{i % 60:02d}Z",
                            }
                        ]
                    }
                },
            )

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(heartbeat, enumerate(names)))
        time.sleep(3)  # let the operator drain its watch stream
        return controller_writes(self.plane.audit_log) - before


def run_size(size: int, trials: int, workdir: Path) -> dict[str, Any]:
    plane = controlplane.ControlPlane(workdir=workdir, bin_dir=kube_paths.kube_bin_dir())
    plane.start()
    try:
        controlplane.apply_crds(plane.kubeconfig)
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(plane.kubeconfig), client_configuration=config
        )
        config.connection_pool_maxsize = 32
        with kubernetes.client.ApiClient(config) as client:
            bench = Bench(plane, client)
            t0 = time.monotonic()
            bench.populate(size)
            populate_s = time.monotonic() - t0
            operator = OperatorProcess(
                operatoridentity.operator_kubeconfig(plane), NAMESPACE, workdir / "operator.log"
            )
            t0 = time.monotonic()
            operator.start()
            wait_for(lambda: bench.annotation("p0") == ",".join(ARCHES), timeout=300)
            wait_for(lambda: bench.pool_record("p0").get("architectures") == list(ARCHES), 300)
            startup_s = time.monotonic() - t0
            try:
                times = bench.relabel_trials(trials)
                idle_writes = bench.idle_churn_writes(1000, size)
                rss = operator.peak_rss_bytes()
                cpu = operator.cpu_seconds()
            finally:
                operator.stop()
    finally:
        plane.stop()
        plane.cleanup()
    ordered = sorted(times)
    return {
        "nodes": size,
        "pools": POOLS,
        "trials": trials,
        "populate_seconds": round(populate_s, 1),
        "startup_to_first_record_seconds": round(startup_s, 2),
        "relabel_to_record_ms_median": round(statistics.median(ordered) * 1000, 1),
        "relabel_to_record_ms_p99": round(
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1
        ),
        "relabel_to_record_ms_max": round(ordered[-1] * 1000, 1),
        "writes_for_1000_idle_status_updates": idle_writes,
        "operator_peak_rss_mb": round(rss / 2**20, 1),
        "operator_cpu_seconds": round(cpu, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="mosb-bench-") as tmp:
            print(f"running {size} nodes ...", file=sys.stderr, flush=True)
            results.append(run_size(size, args.trials, Path(tmp)))
    columns = list(results[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in results:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
