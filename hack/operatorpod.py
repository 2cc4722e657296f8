"""Runs the operator's own pod (from manifests/: `kubectl apply -k`) on the local cluster.

The real Deployment and ReplicaSet controllers make the pod and the real scheduler binds
it to a kwok node; kwok reports its status as for any pod without the build label. What
a kubelet would add is the container: this runner starts the container's command
(`mosb-controller run`) locally as a process with the container's env and a token of the
pod's ServiceAccount (a TokenRequest bound to the pod, as the kubelet projects it), so
the operator runs with exactly the manifests' RBAC. Ports come from free loopback ports
instead of the pod's (flags win over the env), so parallel runs don't clash.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes

from hack import controlplane, operatoridentity
from hack.operatorproc import OperatorProcess

log = logging.getLogger("operatorpod")
SELECTOR = "app.kubernetes.io/name=mosb-controller"
ENTRY_POINT = ["mosb-controller", "run"]


def container_env(pod: kubernetes.client.V1Pod) -> dict[str, str]:
    """The container's env: values, and the downward API's metadata.namespace/name."""
    assert pod.spec is not None and pod.metadata is not None
    fields = {"metadata.namespace": pod.metadata.namespace, "metadata.name": pod.metadata.name}
    env = {}
    for var in pod.spec.containers[0].env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from is not None and var.value_from.field_ref is not None:
            env[var.name] = str(fields[var.value_from.field_ref.field_path])
    return env


class OperatorPodRunner:
    def __init__(
        self, plane: controlplane.ControlPlane, client: kubernetes.client.ApiClient, workdir: Path
    ) -> None:
        self.plane, self.client, self.workdir = plane, client, workdir
        self.core = kubernetes.client.CoreV1Api(client)
        self.processes: dict[str, OperatorProcess] = {}  # pod uid → its process
        self.pods: dict[str, str] = {}  # pod uid → name
        self._live: set[str] = set()  # pod uids whose operator answered its liveness probe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="operator-pod", daemon=True)
        # Processes start from one long-lived thread: they die with the thread that forked
        # them (PR_SET_PDEATHSIG), and the watch must stay free to see deletions meanwhile.
        self._to_start: queue.Queue[tuple[kubernetes.client.V1Pod, str] | None] = queue.Queue()
        self._starter = threading.Thread(target=self._start_loop, name="operator-start")

    def start(self) -> OperatorPodRunner:
        self._thread.start()
        self._starter.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._to_start.put(None)
        for proc in self.processes.values():
            proc.stop()

    def running(self) -> dict[str, OperatorProcess]:
        """Pod name → process, for the pods whose operator is live and running now."""
        return {
            self.pods[uid]: p
            for uid, p in list(self.processes.items())
            if uid in self._live and p.running()
        }

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                watch = kubernetes.watch.Watch()
                for event in watch.stream(
                    self.core.list_pod_for_all_namespaces,
                    label_selector=SELECTOR,
                    timeout_seconds=30,
                ):
                    if self._stop.is_set():
                        watch.stop()
                        return
                    self._consider(event["type"], event["object"])
            except Exception as exc:  # API restarts etc.: watch again
                if not self._stop.is_set():
                    log.warning("operator pod watch: %s", exc)
                    self._stop.wait(1)

    def _consider(self, kind: str, pod: kubernetes.client.V1Pod) -> None:
        meta, spec = pod.metadata, pod.spec
        if meta is None or spec is None:
            return
        uid = str(meta.uid)
        if kind == "DELETED" or meta.deletion_timestamp is not None:
            proc = self.processes.get(uid)
            if proc is not None:
                proc.stop()  # the kubelet's SIGTERM; kwok finishes the deletion
            return
        if spec.node_name and uid not in self.pods:
            self.pods[uid] = str(meta.name)
            self._to_start.put((pod, uid))

    def _start_loop(self) -> None:
        while (item := self._to_start.get()) is not None:
            try:
                self._run(*item)
            except Exception:
                log.exception("operator pod %s did not start", self.pods.get(item[1]))
        for proc in self.processes.values():  # after stop(): none outlives the runner
            proc.stop()

    def _run(self, pod: kubernetes.client.V1Pod, uid: str) -> None:
        assert pod.metadata is not None and pod.spec is not None
        container = pod.spec.containers[0]
        command = [*(container.command or []), *(container.args or [])]
        if command[:2] != ENTRY_POINT:
            raise ValueError(f"pod {pod.metadata.name}: runs {command}, not {ENTRY_POINT}")
        namespace = str(pod.metadata.namespace)
        token = operatoridentity.request_token(
            self.client, namespace, str(pod.spec.service_account_name), pod
        )
        name = str(pod.metadata.name)
        kubeconfig = operatoridentity.write_kubeconfig(
            self.plane, token, self.workdir / f"{name}.kubeconfig"
        )
        env: Mapping[str, Any] = container_env(pod)
        proc = OperatorProcess(
            kubeconfig,
            str(env.get("MOSB_NAMESPACE", namespace)),
            self.workdir / f"{name}.log",
            extra_args=command[2:],
            extra_env=env,
        )
        self.processes[uid] = proc
        try:
            proc.start()
        except RuntimeError as exc:  # e.g. its pod was deleted meanwhile: token refused
            log.warning("operator pod %s did not start: %s", name, exc)
            return
        self._live.add(uid)
        log.info("operator pod %s running as pid %s", name, proc.popen and proc.popen.pid)
