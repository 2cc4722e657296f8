"""Every state a namespace's pods went through, as the API server served them: what the
kubelet (or the harness) wrote, seen even for pods deleted since (a finished build's Job
and its pods go once the build succeeds)."""

from __future__ import annotations

import threading
from typing import Any

import kubernetes


class PodWatch:
    def __init__(self, client: kubernetes.client.ApiClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.core = kubernetes.client.CoreV1Api(client)
        self.seen: dict[str, list[dict[str, Any]]] = {}  # pod name → its states, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pod-watch", daemon=True)

    def __enter__(self) -> PodWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _watch(self) -> None:
        version = ""
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=5,
                ):
                    pod = self.client.sanitize_for_serialization(event["object"])
                    version = pod["metadata"]["resourceVersion"]
                    self.seen.setdefault(pod["metadata"]["name"], []).append(pod)
            except Exception:  # an expired resource version: start from now
                version = ""

    def last(self, name: str) -> dict[str, Any]:
        return self.seen[name][-1]

    def phases(self, name: str) -> list[str]:
        """The pod's phases in order, each once."""
        phases: list[str] = []
        for pod in self.seen.get(name, []):
            phase = (pod.get("status") or {}).get("phase", "")
            if phase and phase not in phases:
                phases.append(phase)
        return phases

    def pods(self, annotation: str, value: str) -> list[str]:
        """Names of the pods seen whose `annotation` is `value`."""
        return [
            name
            for name, states in self.seen.items()
            if (states[0]["metadata"].get("annotations") or {}).get(annotation) == value
        ]
