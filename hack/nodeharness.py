"""Plays the kubelet for our build and push pods on kwok's fake nodes, for real.

kwok leaves pods labelled `mosb-controller.io/managed=true` alone (hack/kwok/stages.yaml);
this harness watches for such pods once the real scheduler has bound them to a kwok node
(a real node's kubelet runs its own, hack/realnode.py),
fetches the ConfigMaps and Secrets their volumes name, runs their container command
locally with hack/podrunner.py (buildah/skopeo, as a node of that architecture would:
the scripts pass `--arch` with the Job's architecture, which selects that variant of the
base image; a foreign architecture's RUN steps run through the qemu-user binfmt handlers
of hack/binfmt.sh, standing in for that node's native CPU; the Job asks for nothing of
it), and writes the outcome to the pod status as a kubelet does (Running, then Succeeded
or Failed with exit code and termination message). The Job controller takes it from there.

For benchmarks, `simulate_seconds` replaces the run by a wait of that many seconds and a
success reporting a digest derived from the pod's name: builds of fixed duration.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
from kubernetes.client import ApiException

from hack import podrunner
from hack.clustercomponents import KWOK_NODE_ANNOTATION
from hack.kubeletlogs import KubeletLogs

log = logging.getLogger("nodeharness")
MANAGED = "mosb-controller.io/managed=true"
LOG_FILE = "container.log"  # hack/podrunner.py writes the container's output there


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodGone(Exception):
    """The pod was deleted while it waited to start: nothing to run or report."""


class NodeHarness:
    def __init__(
        self,
        client: kubernetes.client.ApiClient,
        namespace: str,
        *,
        workers: int = 4,
        timeout: float = 600,
        extra_env: Mapping[str, str] | None = None,
        simulate_seconds: float | None = None,
    ) -> None:
        self.client = client
        self.core = kubernetes.client.CoreV1Api(client)
        self.namespace, self.timeout = namespace, timeout
        self.extra_env = dict(extra_env or {})
        self.simulate_seconds = simulate_seconds
        self.workdir = Path(tempfile.mkdtemp(prefix="mosb-nodes-"))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="node")
        self._taken: set[str] = set()  # pod uids already started
        self._kwok_nodes: dict[str, bool] = {}  # node name → is it kwok's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="node-harness", daemon=True)
        self.outcomes: dict[str, podrunner.PodOutcome] = {}  # pod name → outcome
        self.ran: list[dict[str, Any]] = []  # every pod taken, in order
        # (wall time, pod name, "Running" | "Succeeded" | "Failed") of each status written
        self.timeline: list[tuple[float, str, str]] = []
        # Test hooks, by regular expression on the pod name (`re.match`):
        self.fail_next: dict[str, str] = {}  # pattern → message: fail such pods with it
        self.hold: set[str] = set()  # patterns of pods kept running until removed
        # patterns of pods kept Running after their command ended (its log written), until
        # removed: a long build whose log can be read meanwhile
        self.hold_after: set[str] = set()
        self.held_after: set[str] = set()  # names of the pods held so
        # `kubectl logs` of our pods, through the API server, from the log files here
        self.logs = KubeletLogs(self.workdir, lambda _ns, pod: self.workdir / pod / LOG_FILE)

    def start(self) -> NodeHarness:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.logs.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NodeHarness:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def running(self, prefix: str) -> list[str]:
        """Pods named `prefix`… taken and not finished (held ones included)."""
        names = (p["metadata"]["name"] for p in self.ran)
        return [n for n in names if n.startswith(prefix) and n not in self.outcomes]

    # -- watching ---------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                for pod in self.core.list_namespaced_pod(
                    self.namespace, label_selector=MANAGED
                ).items:
                    self._consider(self.client.sanitize_for_serialization(pod))
                watch = kubernetes.watch.Watch()
                for event in watch.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    label_selector=MANAGED,
                    timeout_seconds=30,
                ):
                    if self._stop.is_set():
                        watch.stop()
                        return
                    self._consider(self.client.sanitize_for_serialization(event["object"]))
            except Exception as exc:  # API restarts etc.: list and watch again
                if not self._stop.is_set():
                    log.warning("pod watch: %s", exc)
                    self._stop.wait(1)

    def _consider(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        uid = meta.get("uid", "")
        if (
            not spec.get("nodeName")
            or meta.get("deletionTimestamp")
            or status.get("phase", "Pending") != "Pending"
            or uid in self._taken
            or not self._kwok_node(spec["nodeName"])
        ):
            return
        self._taken.add(uid)
        self.ran.append(pod)
        self._pool.submit(self._run, pod)

    def _kwok_node(self, name: str) -> bool:
        """Is `name` one of kwok's fake Nodes? A real kubelet runs the pods of any other.

        One list on a name not seen yet, rather than a get per node: this runs on the
        watch thread, so a get per node (200 new nodes in a round of the scale benchmark,
        ~50 ms each under that load) held every later pod back, which spread a build's
        pod starts over seconds where kubelets start them at once."""
        if name not in self._kwok_nodes:
            self._kwok_nodes.update(self._list_nodes())
            self._kwok_nodes.setdefault(name, False)  # gone already: nothing to run
        return self._kwok_nodes[name]

    def _list_nodes(self) -> dict[str, bool]:
        # Raw JSON: the client's models would take seconds to build 2,000 Nodes.
        response: Any = self.core.list_node(resource_version="0", _preload_content=False)
        items = json.loads(response.data).get("items") or []
        return {
            n["metadata"]["name"]: KWOK_NODE_ANNOTATION in (n["metadata"].get("annotations") or {})
            for n in items
        }

    # -- one pod ----------------------------------------------------------------------
    def _volume_data(self, pod: Mapping[str, Any]) -> dict[str, dict[str, bytes]]:
        data: dict[str, dict[str, bytes]] = {}
        for volume in pod["spec"].get("volumes") or []:
            if "configMap" in volume:
                source = volume["configMap"]
                try:
                    cm = self.core.read_namespaced_config_map(source["name"], self.namespace)
                except ApiException:
                    if source.get("optional"):
                        continue
                    raise
                data[volume["name"]] = {k: v.encode() for k, v in (cm.data or {}).items()}
            elif "secret" in volume:
                source = volume["secret"]
                secret = self.core.read_namespaced_secret(source["secretName"], self.namespace)
                data[volume["name"]] = {
                    k: base64.b64decode(v) for k, v in (secret.data or {}).items()
                }
        return data

    def _wait_for_volumes(
        self, pod: Mapping[str, Any], timeout: float = 120
    ) -> dict[str, dict[str, bytes]]:
        """The kubelet keeps a pod in ContainerCreating until its ConfigMaps and Secrets
        exist (e.g. the controller creates the inputs ConfigMap a moment after the Job)
        and the API server answers (it may be restarting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._volume_data(pod)
            except (ApiException, urllib3.exceptions.HTTPError) as exc:
                missing = not isinstance(exc, ApiException) or exc.status == 404
                if not missing or time.monotonic() > deadline or self._stop.is_set():
                    raise
                if self._gone(pod):  # deleted meanwhile (its MOSB superseded): stop waiting
                    raise PodGone(pod["metadata"]["name"]) from exc
                self._stop.wait(0.5)

    def _gone(self, pod: Mapping[str, Any]) -> bool:
        try:
            now = self.core.read_namespaced_pod(pod["metadata"]["name"], self.namespace)
        except ApiException as exc:
            return bool(exc.status == 404)
        except urllib3.exceptions.HTTPError:
            return False
        meta = now.metadata
        if meta is None:
            return True
        return meta.deletion_timestamp is not None or meta.uid != pod["metadata"]["uid"]

    def _run(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        if self.simulate_seconds is None:
            # A simulated pod writes no log to serve; and pointing its node would be a
            # Node write per pod (a kubelet sets its port once, when it registers).
            self.logs.point_node(self.core, pod["spec"]["nodeName"])
        if not self._report(name, container, "Running", {"running": {"startedAt": _now()}}):
            return
        try:
            while any(re.match(p, name) for p in self.hold) and not self._stop.is_set():
                self._stop.wait(0.2)
            forced = next((m for p, m in self.fail_next.items() if re.match(p, name)), None)
            if forced is not None:
                outcome = podrunner.PodOutcome(1, forced, forced)
            elif self.simulate_seconds is not None:
                outcome = self._simulated(name, self.simulate_seconds)
            else:
                volumes = self._wait_for_volumes(pod)
                outcome = podrunner.run_pod(
                    pod,
                    volumes,
                    workdir=self.workdir / name,
                    extra_env=self.extra_env,
                    timeout=self.timeout,
                )
        except PodGone:
            log.info("pod %s: deleted before it could start", name)
            return
        except Exception as exc:  # the pod could not even start: report it as the kubelet would
            outcome = podrunner.PodOutcome(128, f"error: {exc}", str(exc))
        while any(re.match(p, name) for p in self.hold_after) and not self._stop.is_set():
            self.held_after.add(name)
            self._stop.wait(0.2)
        self.outcomes[name] = outcome
        terminated = {
            "exitCode": outcome.exit_code,
            "reason": "Completed" if outcome.exit_code == 0 else "Error",
            "message": outcome.termination_message,
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        phase = "Succeeded" if outcome.exit_code == 0 else "Failed"
        self._report(name, container, phase, {"terminated": terminated})

    def _report(self, name: str, container: str, phase: str, state: dict[str, Any]) -> bool:
        """Write the pod's status as a kubelet does: again once the API server is back."""
        deadline = time.monotonic() + 120
        while True:
            try:
                reported = time.time()  # as it starts: the operator may act before it returns
                self._status(name, container, phase, state)
                self.timeline.append((reported, name, phase))
                return True
            except urllib3.exceptions.HTTPError:
                if time.monotonic() > deadline or self._stop.is_set():
                    log.warning("pod %s: could not report %s: API server away", name, phase)
                    return False
                self._stop.wait(0.5)
            except ApiException as exc:
                log.warning("pod %s: could not report %s: %s", name, phase, exc.reason)
                return False

    def _simulated(self, name: str, seconds: float) -> podrunner.PodOutcome:
        self._stop.wait(seconds)
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        return podrunner.PodOutcome(0, digest, digest, duration=seconds)

    def _status(self, pod: str, container: str, phase: str, state: dict[str, Any]) -> None:
        ready = phase == "Running"
        body = {
            "status": {
                "phase": phase,
                "startTime": _now(),
                "conditions": [
                    {"type": "Ready", "status": str(ready), "lastTransitionTime": _now()}
                ],
                "containerStatuses": [
                    {
                        "name": container,
                        "image": "local",
                        "imageID": "",
                        "ready": ready,
                        "started": ready,
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            }
        }
        self.core.patch_namespaced_pod_status(pod, self.namespace, body)
