"""The local cluster's stand-in for OpenShift's SCC admission of build pods.

`apply` installs hack/admission/anyuid-scc.yaml (a ValidatingAdmissionPolicy and its
binding, built into kube-apiserver) and returns once the API server enforces it: a policy
takes effect only after the API server's own informer has seen it, so a test starting
right after `kubectl apply` could otherwise still get a refused pod admitted.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from hack import kube_paths

POLICY_FILE = Path(__file__).parent / "admission" / "anyuid-scc.yaml"
POLICY_NAME = "mosb-anyuid-scc"
BUILD_SERVICE_ACCOUNT = "mosb-builder"


def probe_pod(capabilities: dict[str, Any]) -> dict[str, Any]:
    """A build-ServiceAccount pod whose one container has these capabilities."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "scc-probe-"},
        "spec": {
            "serviceAccountName": BUILD_SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "probe",
                    "image": "example.invalid/probe:1",
                    "securityContext": {"capabilities": capabilities},
                }
            ],
        },
    }


def dry_run_refusal(create: Callable[..., Any], namespace: str, body: dict[str, Any]) -> str:
    """The API server's refusal of `create(namespace, body)` as a server-side dry run
    (admission runs, nothing is stored), or "" if admitted."""
    try:
        create(namespace, body, dry_run="All")
    except ApiException as exc:
        if exc.status in (403, 422):
            return str(exc.body)
        raise
    return ""


def refusal(core: kubernetes.client.CoreV1Api, namespace: str, body: dict[str, Any]) -> str:
    """The API server's refusal of the pod `body`, or "" if admitted."""
    return dry_run_refusal(core.create_namespaced_pod, namespace, body)


def apply(kubeconfig: Path, core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={kubeconfig}", "apply", "--server-side",
         "--force-conflicts", "-f", str(POLICY_FILE)],
        check=True, capture_output=True,
    )  # fmt: skip
    bad = probe_pod({"add": ["SETUID"], "drop": ["MKNOD"]})
    deadline = time.monotonic() + 60
    while not refusal(core, namespace, bad):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API server does not enforce {POLICY_NAME} after 60s")
        time.sleep(0.2)
