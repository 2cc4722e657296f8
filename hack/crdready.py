"""Test fixture: wait until the API server serves watches of every CRD.

The API server makes a CRD's watch cache on the first request for its objects, and until
that cache is filled it refuses watches with 429 "storage is (re)initializing". kopf
retries such a watch about a second later. On a fresh local cluster the operator was the
first to ask for MachineOSConfigs, so it missed the benchmark's first MachineOSConfig for
that second: "MOSC write → build Jobs" measured 1.07 s, about 1 s of it this retry
(operator log: "Request attempt #1/9 failed; will retry ... storage is (re)initializing";
API server log: "cacher (machineosconfigs...): initialized" at the same moment). On a
real cluster the caches were filled long before the operator starts; this makes the
local one the same.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import kubernetes

from hack import kube_paths


def crd_paths(kubeconfig: Path) -> list[str]:
    """The collection path of every CRD's storage version, e.g. /apis/g/v1/things."""
    listed = subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={kubeconfig}", "get", "crd", "-o", "json"],
        check=True,
        capture_output=True,
    )
    paths = []
    for crd in json.loads(listed.stdout)["items"]:
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("storage"))
        paths.append(f"/apis/{spec['group']}/{version}/{spec['names']['plural']}")
    return paths


def wait_watchable(kubeconfig: Path, timeout: float = 60) -> None:
    """Until a watch of every CRD is accepted (its response headers say 200)."""
    client = kubernetes.config.new_client_from_config(str(kubeconfig))
    pending = crd_paths(kubeconfig)
    deadline = time.monotonic() + timeout
    try:
        while pending:
            pending = [path for path in pending if not _watch_accepted(client, path)]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"watches still refused after {timeout:g}s: {pending}")
            if pending:
                time.sleep(0.05)
    finally:
        client.close()


def _watch_accepted(client: kubernetes.client.ApiClient, path: str) -> bool:
    method, url, headers, _, _ = client.param_serialize(
        "GET",
        path,
        query_params=[("watch", "true"), ("timeoutSeconds", "1")],
        auth_settings=["BearerToken"],
    )
    # Returns at the response headers: the watch's stream is never read.
    response = client.call_api(method, url, header_params=headers)
    status = response.status
    response.response.close()  # unread: the connection is not reused
    if status == 429:
        return False
    if status != 200:
        raise RuntimeError(f"watch {path}: HTTP {status}")
    return True
