"""Plays the Job controller's and the kubelet's part for build Jobs in integration tests,
where only the API server runs: creates a Job's pod, then writes its outcome (phase, exit
code, termination message) and the Job's conditions, as those components would."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any, cast

import kubernetes

from hack.registry import Buildah, LocalRegistry


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubelet:
    def __init__(self, client: kubernetes.client.ApiClient, namespace: str) -> None:
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.namespace = namespace

    def job(self, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.batch.api_client.sanitize_for_serialization(
                self.batch.read_namespaced_job(name, self.namespace)
            ),
        )

    def set_job_status(self, job_name: str, changes: dict[str, Any]) -> None:
        """Read-modify-replace the Job's status (as the Job controller writes it whole).
        A Job already deleted (the operator cleans up once a pod reported success) is left
        alone, as the Job controller would."""
        for _ in range(5):
            try:
                job = self.job(job_name)
            except kubernetes.client.ApiException as exc:
                if exc.status == 404:
                    return
                raise
            status = {**(job.get("status") or {}), **changes}
            status.setdefault("startTime", _now())
            job["status"] = status
            try:
                self.batch.replace_namespaced_job_status(
                    job_name, self.namespace, kubernetes.client.V1Job.model_validate(job)
                )
                return
            except kubernetes.client.ApiException as exc:
                if exc.status != 409:
                    raise
        raise RuntimeError(f"could not update the status of Job {job_name}")

    def start(self, job_name: str, node: str) -> str:
        """Create the Job's pod on `node`, running. Returns the pod name."""
        job = self.job(job_name)
        template = job["spec"]["template"]
        meta = template["metadata"]
        selector = f"batch.kubernetes.io/job-name={job_name}"
        existing = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        name = f"{job_name}-{len(existing)}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {**meta.get("labels", {}), "batch.kubernetes.io/job-name": job_name},
                "annotations": meta.get("annotations", {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job_name,
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {**template["spec"], "nodeName": node},
        }
        self.core.create_namespaced_pod(self.namespace, kubernetes.client.V1Pod.model_validate(pod))
        self.core.patch_namespaced_pod_status(
            name,
            self.namespace,
            {
                "status": {
                    "phase": "Running",
                    "startTime": _now(),
                    "containerStatuses": [
                        {
                            "name": "build" if "push" not in job_name else "push",
                            "image": "x",
                            "imageID": "",
                            "ready": True,
                            "restartCount": 0,
                            "state": {"running": {"startedAt": _now()}},
                        }
                    ],
                }
            },
        )
        self.set_job_status(job_name, {"active": 1})
        return name

    def finish_pod(self, pod: str, exit_code: int, message: str) -> None:
        spec = self.core.read_namespaced_pod(pod, self.namespace).spec
        assert spec is not None
        container = spec.containers[0].name
        self.core.patch_namespaced_pod_status(
            pod,
            self.namespace,
            {
                "status": {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "containerStatuses": [
                        {
                            "name": container,
                            "image": "x",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": {
                                "terminated": {
                                    "exitCode": exit_code,
                                    "message": message,
                                    "reason": "Completed" if exit_code == 0 else "Error",
                                    "startedAt": _now(),
                                    "finishedAt": _now(),
                                }
                            },
                        }
                    ],
                }
            },
        )

    def succeed(self, job_name: str, node: str, message: str) -> None:
        pod = self.start(job_name, node)
        self.finish_pod(pod, 0, message)
        now = _now()
        self.set_job_status(
            job_name,
            {
                "active": 0,
                "succeeded": 1,
                "completionTime": now,
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                    {"type": "Complete", "status": "True", "lastTransitionTime": now},
                ],
            },
        )

    def fail(self, job_name: str, node: str, message: str) -> None:
        pod = self.start(job_name, node)
        self.finish_pod(pod, 1, message)
        now = _now()
        reason, text = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        self.set_job_status(
            job_name,
            {
                "active": 0,
                "failed": 1,
                "conditions": [
                    {"type": t, "status": "True", "reason": reason, "message": text,
                     "lastTransitionTime": now}
                    for t in ("FailureTarget", "Failed")
                ],
            },
        )  # fmt: skip


def push_arch_image(registry: LocalRegistry, store: Path, ref: str, arch: str, note: str) -> str:
    """Push a tiny image declaring `arch` to `ref` (as a build would); returns its digest."""
    b = Buildah(store)
    auth = registry.authfile(store / "auth.json")
    ctx = store / f"ctx-{arch}"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "note").write_text(f"{arch} {note}\n")
    ctr = b("from", "scratch")
    b("copy", ctr, str(ctx / "note"), "/etc/note")
    b("config", "--arch", arch, "--os", "linux", ctr)
    digest_file = store / "digest"
    b("commit", "--format", "oci", ctr, f"localhost/img-{arch}")
    b("push", "--format", "oci", "--authfile", str(auth), "--cert-dir", str(registry.ca_dir),
      "--digestfile", str(digest_file), f"localhost/img-{arch}", f"docker://{ref}")  # fmt: skip
    b("rm", ctr)
    return digest_file.read_text().strip()


def registry_has(registry: LocalRegistry, ref: str) -> bool:
    auth = registry.authfile(Path(registry.workdir) / "check-auth.json")
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", "--authfile", str(auth), "--cert-dir",
         str(registry.ca_dir), f"docker://{ref}"],
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0
