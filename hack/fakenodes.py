"""Node objects as a kubelet would register them, for tests, benchmarks and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kubernetes

ARCH_LABEL = "kubernetes.io/arch"
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
