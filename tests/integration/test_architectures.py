"""Architecture detection against the real API server, with the operator as a process.

Each test gets its own label value, so its pools select only its own nodes; cluster-wide
figures are asserted only where a test controls them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import kubernetes
import pytest

from api.names import ARCHITECTURES_ANNOTATION
from hack import controlplane, fakenodes
from hack.operatorproc import OperatorProcess
from tests.support.polling import delete_quietly, eventually

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
ARCH_LABEL = "kubernetes.io/arch"
CONFIGMAP = "mosb-architectures"


class Cluster:
    """Creates nodes and pools for one test and removes them afterwards."""

    def __init__(
        self,
        core: kubernetes.client.CoreV1Api,
        custom: kubernetes.client.CustomObjectsApi,
        namespace: str,
    ) -> None:
        self.core, self.custom, self.namespace = core, custom, namespace
        self.tag = uuid.uuid4().hex[:8]
        self.nodes: list[str] = []
        self.pools: list[str] = []

    def node(
        self,
        name: str,
        label_arch: str | None = None,
        info_arch: str | None = None,
        pool: str | None = None,
        ready: bool = True,
    ) -> str:
        name = f"{name}-{self.tag}"
        labels = {"test": self.tag}
        if label_arch:
            labels[ARCH_LABEL] = label_arch
        if pool:
            labels["pool"] = pool
        self.core.create_node(fakenodes.node(name, labels, info_arch=info_arch, ready=ready))
        self.nodes.append(name)
        if ready:  # as the node lifecycle controller does once a node reports Ready
            self.core.patch_node(name, {"spec": {"taints": None}})
        return name

    def pool(self, name: str, selector: dict[str, Any] | None = None) -> str:
        name = f"{name}-{self.tag}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MachineConfigPool",
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": selector
                if selector is not None
                else {"matchLabels": {"test": self.tag, "pool": name}},
                "machineConfigSelector": {},
            },
        }
        self.custom.create_cluster_custom_object(GROUP, VERSION, "machineconfigpools", body)
        self.pools.append(name)
        return name

    def get_pool(self, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.custom.get_cluster_custom_object(GROUP, VERSION, "machineconfigpools", name),
        )

    def annotation(self, pool: str) -> str | None:
        value: str | None = (self.get_pool(pool)["metadata"].get("annotations") or {}).get(
            ARCHITECTURES_ANNOTATION
        )
        return value

    def configmap(self) -> dict[str, str]:
        return self.core.read_namespaced_config_map(CONFIGMAP, self.namespace).data or {}

    def pool_record(self, pool: str) -> dict[str, Any] | None:
        raw = self.configmap().get(f"pool.{pool}.json")
        return None if raw is None else dict(json.loads(raw))

    def relabel(self, node: str, labels: dict[str, str | None]) -> None:
        self.core.patch_node(node, {"metadata": {"labels": labels}})

    def cleanup(self) -> None:
        for node in self.nodes:
            delete_quietly(self.core.delete_node, node)
        for pool in self.pools:
            delete_quietly(
                self.custom.delete_cluster_custom_object, GROUP, VERSION, "machineconfigpools", pool
            )


@pytest.fixture
def cluster(
    core: kubernetes.client.CoreV1Api,
    custom: kubernetes.client.CustomObjectsApi,
    namespace: str,
    operator: OperatorProcess,
) -> Iterator[Cluster]:
    made = Cluster(core, custom, namespace)
    yield made
    made.cleanup()


def test_label_and_node_info_and_aliases(cluster: Cluster) -> None:
    pool = cluster.pool("mixed")
    cluster.node("a", label_arch="x86_64", pool=pool)
    cluster.node("b", label_arch="aarch64", pool=pool)
    cluster.node("c", info_arch="s390x", pool=pool)  # no label: status.nodeInfo decides
    eventually(lambda: cluster.annotation(pool) == "amd64,arm64,s390x")

    def record_of_three() -> dict[str, Any]:
        # The pass writes the annotation first, then the ConfigMap: it may show the record
        # of the pass before for a moment.
        record = cluster.pool_record(pool)
        assert record is not None
        assert record["nodes"] == {"amd64": 1, "arm64": 1, "s390x": 1}
        return record

    assert eventually(record_of_three)["heterogeneous"] is True


def test_unsupported_architecture_is_reported_not_guessed(
    cluster: Cluster, core: kubernetes.client.CoreV1Api
) -> None:
    pool = cluster.pool("riscv")
    cluster.node("amd", label_arch="amd64", pool=pool)
    odd = cluster.node("odd", label_arch="riscv64", pool=pool)
    eventually(lambda: cluster.annotation(pool) == "amd64")
    eventually(
        lambda: (cluster.pool_record(pool) or {}).get("unsupportedNodes") == {odd: "riscv64"}
    )

    def warning_event() -> list[Any]:
        events = core.list_namespaced_event(
            "default", field_selector=f"involvedObject.name={pool}"
        ).items
        return [
            e for e in events if e.reason == "UnsupportedArchitecture" and odd in (e.message or "")
        ]

    event = eventually(warning_event)[0]
    assert event.type == "Warning" and "riscv64" in (event.message or "")


def test_node_moves_between_pools_by_relabel(cluster: Cluster) -> None:
    left, right = cluster.pool("left"), cluster.pool("right")
    cluster.node("l1", label_arch="amd64", pool=left)
    mover = cluster.node("mover", label_arch="arm64", pool=left)
    cluster.node("r1", label_arch="ppc64le", pool=right)
    eventually(lambda: cluster.annotation(left) == "amd64,arm64")
    eventually(lambda: cluster.annotation(right) == "ppc64le")
    cluster.relabel(mover, {"pool": right})
    eventually(lambda: cluster.annotation(left) == "amd64")
    eventually(lambda: cluster.annotation(right) == "arm64,ppc64le")
    eventually(
        lambda: (cluster.pool_record(right) or {}).get("nodes") == {"arm64": 1, "ppc64le": 1}
    )


def test_homogeneous_pool_in_heterogeneous_cluster(cluster: Cluster) -> None:
    workers, infra = cluster.pool("workers"), cluster.pool("infra")
    cluster.node("w1", label_arch="amd64", pool=workers)
    cluster.node("w2", label_arch="amd64", pool=workers, ready=False)  # NotReady still counts
    cluster.node("i1", label_arch="arm64", pool=infra)
    eventually(lambda: cluster.annotation(workers) == "amd64")
    eventually(lambda: (cluster.pool_record(infra) or {}).get("nodes") == {"arm64": 1})
    record = cluster.pool_record(workers)
    assert record is not None
    assert record["heterogeneous"] is False
    assert record["nodes"] == {"amd64": 2}
    cluster_record = json.loads(cluster.configmap()["cluster.json"])
    assert cluster_record["heterogeneous"] is True
    assert {"amd64", "arm64"} <= set(cluster_record["architectures"])


def test_node_deleted_and_readiness_changes(
    cluster: Cluster, core: kubernetes.client.CoreV1Api
) -> None:
    pool = cluster.pool("life")
    cluster.node("keep", label_arch="amd64", pool=pool)
    gone = cluster.node("gone", label_arch="s390x", pool=pool)
    eventually(lambda: cluster.annotation(pool) == "amd64,s390x")

    def buildable_s390x() -> int:
        cluster_record = json.loads(cluster.configmap()["cluster.json"])
        return int(cluster_record["buildableNodes"].get("s390x", 0))

    before = eventually(buildable_s390x)
    core.patch_node(gone, {"spec": {"unschedulable": True}})
    eventually(
        lambda: (
            json.loads(cluster.configmap()["cluster.json"])["buildableNodes"].get("s390x", 0)
            == before - 1
        )
    )
    core.delete_node(gone)
    eventually(lambda: cluster.annotation(pool) == "amd64")


def test_pool_created_deleted_and_selector_changed(
    cluster: Cluster, custom: kubernetes.client.CustomObjectsApi
) -> None:
    pool = cluster.pool("sel")
    cluster.node("x", label_arch="amd64", pool=pool)
    cluster.node("y", label_arch="arm64")  # carries only the test label
    eventually(lambda: cluster.annotation(pool) == "amd64")
    custom.patch_cluster_custom_object(
        GROUP,
        VERSION,
        "machineconfigpools",
        pool,
        # A merge patch: "pool": None removes that key from matchLabels.
        {"spec": {"nodeSelector": {"matchLabels": {"test": cluster.tag, "pool": None}}}},
    )
    eventually(lambda: cluster.annotation(pool) == "amd64,arm64")
    custom.delete_cluster_custom_object(GROUP, VERSION, "machineconfigpools", pool)
    eventually(lambda: f"pool.{pool}.json" not in cluster.configmap())


def _writes_by_controller(control_plane: controlplane.ControlPlane) -> list[str]:
    """`verb resource/name` of every write the operator's user made, in order; Lease
    renewals (leader election's heartbeat) aside."""
    writes = []
    for line in control_plane.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if (
            event.get("verb") in {"create", "update", "patch", "delete"}
            and ref.get("resource") != "leases"
        ):
            writes.append(f"{event['verb']} {ref.get('resource')}/{ref.get('name')}")
    return writes


def _settled_write_count(control_plane: controlplane.ControlPlane, quiet: float = 1.0) -> int:
    """The operator's write count once it stopped changing for `quiet` seconds."""
    count, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        now = len(_writes_by_controller(control_plane))
        if now != count:
            count, since = now, time.monotonic()
        time.sleep(0.1)
    return count


def test_heartbeats_cause_no_writes(
    cluster: Cluster,
    core: kubernetes.client.CoreV1Api,
    control_plane: controlplane.ControlPlane,
    operator: OperatorProcess,
) -> None:
    pool = cluster.pool("quiet")
    node = cluster.node("beat", label_arch="arm64", pool=pool)
    eventually(lambda: cluster.annotation(pool) == "arm64")
    eventually(lambda: cluster.pool_record(pool))
    # A marker write we can wait for, so every earlier write has reached the audit log.
    marker = cluster.node("marker", label_arch="ppc64le", pool=pool)
    eventually(lambda: cluster.annotation(pool) == "arm64,ppc64le")
    pool_version = cluster.get_pool(pool)["metadata"]["resourceVersion"]
    writes_before = _settled_write_count(control_plane)
    for i in range(20):
        core.patch_node_status(
            node,
            {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "lastHeartbeatTime": f"2026-01-01T00:00:{i:02d}Z",
                        }
                    ]
                }
            },
        )
    # Then a real change: once it is recorded, the heartbeats before it were processed.
    core.delete_node(marker)
    eventually(lambda: cluster.annotation(pool) == "arm64")
    eventually(lambda: (cluster.pool_record(pool) or {}).get("nodes") == {"arm64": 1})
    new_writes = _writes_by_controller(control_plane)[writes_before:]
    # The real change costs exactly its own writes: the pool annotation and the ConfigMap.
    assert sorted(new_writes) == [
        f"patch configmaps/{CONFIGMAP}",
        f"patch machineconfigpools/{pool}",
    ]
    assert cluster.get_pool(pool)["metadata"]["resourceVersion"] != pool_version
