"""What the kubectl plugin (`kubectl mosb …`) reads and writes: a MachineOSConfig and its
current MachineOSBuild in the group that serves them, our build pods, a pod's log, and
the request annotations an admin sets on the MachineOSConfig."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, ApiException

from api import (
    BUILD_OBJECT_LABEL,
    MACHINE_OS_BUILDS,
    MACHINE_OS_CONFIGS,
    VERSION,
    MachineOSBuild,
    MachineOSConfig,
    PodPhase,
)
from mosb_controller.cluster.kube import pages, read_raw

# The kinds live in a group named machineconfiguration.<domain>: upstream's, or ours in
# alongside-mco mode; discovery asks only such groups, not every group of the cluster.
_GROUP_PREFIX = "machineconfiguration."
# The Job controller's label on a Job's pods (the old `job-name` is still set too).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass(frozen=True)
class BuildPod:
    name: str
    node: str | None
    phase: str
    created: str  # RFC 3339, sorts as time


class Operate:
    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.client = client
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.namespace = namespace

    # -- discovery --------------------------------------------------------------------
    def groups_serving_mosc(self) -> list[str]:
        """The API groups whose `VERSION` serves the MachineOSConfig kind."""
        groups = kubernetes.client.ApisApi(self.client).get_api_versions().groups or []
        found = []
        for group in groups:
            if not group.name.startswith(_GROUP_PREFIX):
                continue
            try:
                resources = kubernetes.client.CustomObjectsApi(self.client).get_api_resources(
                    group.name, VERSION
                )
            except ApiException as exc:
                if exc.status == 404:  # the group serves other versions only
                    continue
                raise
            kinds = {r.kind for r in resources.resources or []}
            if MachineOSConfig.KIND in kinds and MachineOSBuild.KIND in kinds:
                found.append(group.name)
        return found

    # -- MachineOSConfigs and MachineOSBuilds -------------------------------------------
    def mosc(self, group: str, name: str) -> dict[str, Any] | None:
        get = self.custom.get_cluster_custom_object
        return read_raw(get, group, VERSION, MACHINE_OS_CONFIGS, name)

    def mosc_names(self, group: str) -> list[str]:
        list_all = self.custom.list_cluster_custom_object
        return sorted(
            item["metadata"]["name"]
            for page in pages(list_all, group, VERSION, MACHINE_OS_CONFIGS)
            for item in page.get("items") or []
        )

    def mosb(self, group: str, name: str) -> dict[str, Any] | None:
        get = self.custom.get_cluster_custom_object
        return read_raw(get, group, VERSION, MACHINE_OS_BUILDS, name)

    def annotate_mosc(self, group: str, name: str, key: str) -> None:
        """Set a request annotation (empty value, as the README's `oc annotate … key=`)."""
        body = {"metadata": {"annotations": {key: ""}}}
        self.custom.patch_cluster_custom_object(group, VERSION, MACHINE_OS_CONFIGS, name, body)

    # -- Jobs, Pods and logs ----------------------------------------------------------
    def build_pods(self) -> dict[str, list[BuildPod]]:
        """Job name → its pods (ours only: labelled BUILD_OBJECT_LABEL=true)."""
        found: dict[str, list[BuildPod]] = {}
        list_pods = self.core.list_namespaced_pod
        for page in pages(list_pods, self.namespace, label_selector=f"{BUILD_OBJECT_LABEL}=true"):
            for pod in page.get("items") or []:
                meta = pod["metadata"]
                job = (meta.get("labels") or {}).get(JOB_NAME_LABEL)
                if job is None:
                    continue
                found.setdefault(job, []).append(
                    BuildPod(
                        name=meta["name"],
                        node=(pod.get("spec") or {}).get("nodeName"),
                        phase=(pod.get("status") or {}).get("phase", PodPhase.PENDING.value),
                        created=meta.get("creationTimestamp", ""),
                    )
                )
        return found

    def job_exists(self, name: str) -> bool:
        return read_raw(self.batch.read_namespaced_job, name, self.namespace) is not None

    def pod_log(self, pod: str) -> str:
        response: Any = self.core.read_namespaced_pod_log(
            pod, self.namespace, _preload_content=False
        )  # raw bytes: the client would decode (and mangle) a log that is not UTF-8
        return bytes(response.data).decode(errors="replace")
