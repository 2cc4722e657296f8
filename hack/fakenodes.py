"""Node objects as a kubelet would register them, for tests, benchmarks and the demo; and
kwok-managed fake Nodes on the local cluster (hack/controlplane.py with kwok): created
(add_nodes) and waited on until the scheduler may bind pods to them (wait_nodes_ready)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import kubernetes

from hack.clustercomponents import KWOK_NODE_ANNOTATION
from hack.processes import ControlPlaneError
from mosb_controller.arch import SUPPORTED_ARCHES

ARCH_LABEL = "kubernetes.io/arch"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
_NODE_INFO_FIELDS = (
    "bootID",
    "containerRuntimeVersion",
    "kernelVersion",
    "kubeProxyVersion",
    "kubeletVersion",
    "machineID",
    "operatingSystem",
    "osImage",
    "systemUUID",
)


def node_info(architecture: str) -> dict[str, str]:
    """A complete nodeInfo (the client requires every field) reporting `architecture`."""
    return {**dict.fromkeys(_NODE_INFO_FIELDS, ""), "architecture": architecture}


def node(
    name: str,
    labels: Mapping[str, str],
    *,
    info_arch: str | None = None,
    ready: bool = True,
    extra_status: Mapping[str, Any] | None = None,
) -> kubernetes.client.V1Node:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        **(extra_status or {}),
    }
    if info_arch is not None:
        status["nodeInfo"] = node_info(info_arch)
    return kubernetes.client.V1Node.model_validate(
        {"metadata": {"name": name, "labels": dict(labels)}, "status": status}
    )


# -- kwok-managed Nodes on the local cluster ----------------------------------------------
ClientOrKubeconfig = kubernetes.client.ApiClient | Path | str


@contextlib.contextmanager
def _api_client(target: ClientOrKubeconfig) -> Iterator[kubernetes.client.ApiClient]:
    if isinstance(target, kubernetes.client.ApiClient):
        yield target
        return
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(target), client_configuration=config)
    with kubernetes.client.ApiClient(config) as client:
        yield client


def kwok_node(name: str, arch: str, labels: Mapping[str, str]) -> kubernetes.client.V1Node:
    """A Node as a kubelet registers it, for kwok to make Ready: architecture and OS in
    the well-known labels and in status.nodeInfo; no conditions (kwok's node-initialize
    stage posts them), no kwok taint (pods would need a toleration for it)."""
    return kubernetes.client.V1Node.model_validate(
        {
            "metadata": {
                "name": name,
                "labels": {
                    ARCH_LABEL: arch,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": name,
                    **labels,
                },
                # kwok manages only Nodes with it (not the real node); it also tells a
                # reader (and the node harness) the node is fake.
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            },
            "status": {"nodeInfo": {**node_info(arch), "operatingSystem": "linux"}},
        }
    )


def add_nodes(
    client_or_kubeconfig: ClientOrKubeconfig,
    arches: Sequence[str] = ARCHES,
    per_arch: int = 1,
    labels: Mapping[str, str] = MappingProxyType({}),
    prefix: str = "kwok",
) -> list[str]:
    """Create `per_arch` kwok-managed fake Nodes of each architecture, named
    `<prefix>-<arch>-<i>`, with `labels` added; returns their names. They start NotReady
    and tainted node.kubernetes.io/not-ready (by the API server); see wait_nodes_ready.
    A name that exists already is an error (ApiException 409)."""
    names: list[str] = []
    with _api_client(client_or_kubeconfig) as client:
        core = kubernetes.client.CoreV1Api(client)
        for arch in arches:
            for i in range(per_arch):
                name = f"{prefix}-{arch}-{i}"
                core.create_node(kwok_node(name, arch, labels))
                names.append(name)
    return names


def node_ready(node: Mapping[str, Any]) -> bool:
    """Ready, schedulable and without a not-ready/unreachable taint (a Node as JSON)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    spec = node.get("spec") or {}
    taints = spec.get("taints") or []
    return (
        ready
        and not spec.get("unschedulable")
        and not any(t.get("key") in NOT_READY_TAINTS for t in taints)
    )


def wait_nodes_ready(
    client_or_kubeconfig: ClientOrKubeconfig, names: Sequence[str], timeout: float = 60
) -> None:
    """Wait until every named Node is Ready (kwok) and its not-ready taint is lifted (the
    node lifecycle controller), i.e. the scheduler may bind pods to it."""
    deadline = time.monotonic() + timeout
    waiting = set(names)
    if not waiting:
        return
    with _api_client(client_or_kubeconfig) as client:
        core = kubernetes.client.CoreV1Api(client)
        while True:
            # Raw JSON: the client's models are slow to build for thousands of nodes.
            response: Any = core.list_node(_preload_content=False)
            items = json.loads(response.data)["items"]
            listed = {n["metadata"]["name"]: n for n in items}
            waiting = {
                name for name in waiting if not (name in listed and node_ready(listed[name]))
            }
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"nodes not Ready and untainted after {timeout:.0f}s: {sorted(waiting)}"
                )
            time.sleep(0.1)
