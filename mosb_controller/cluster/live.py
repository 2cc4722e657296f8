"""The dry run's live reader: what `mosb-controller plan --live` needs from the cluster,
read only (no writes), as plain objects for `dryrun.observed_from_objects`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client import ApiException
from pydantic import ValidationError

from api import (
    BUILD_OBJECT_LABEL,
    MACHINE_CONFIG_POOLS,
    MACHINE_CONFIGS,
    MACHINE_OS_BUILDS,
    MACHINE_OS_CONFIG_LABEL,
    MACHINE_OS_CONFIGS,
    VERSION,
    MachineConfigPool,
    MachineOSBuild,
    MachineOSConfig,
    Mode,
    group_of,
    published_config_name,
)
from mosb_controller.cluster.kube import Kube, pages, read_raw
from mosb_controller.dryrun.objects import DryRunError, pick_mosc


@dataclass(frozen=True)
class LiveObjects:
    objects: list[dict[str, Any]]
    secrets_checked: bool  # False when reading the Secrets was forbidden
    jobs_known: bool  # False when listing our Jobs and Pods was forbidden


def _forbidden(exc: ApiException) -> bool:
    return exc.status in (401, 403)


class LiveReader:
    """Reads only. A 404 leaves an object out: the plan says what is missing."""

    def __init__(self, kube: Kube, namespace: str, osimageurl: tuple[str, str] = ("", "")) -> None:
        self.custom, self.core = kube.custom, kube.core
        self.batch = kubernetes.client.BatchV1Api(kube.client)
        self.namespace, self.mode = namespace, kube.mode
        self.osimageurl = osimageurl  # alongside-mco: (namespace, name) of the ConfigMap

    def _listed(self, kind: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        return [
            {**item, "kind": kind}
            for page in pages(call, *args, **kwargs)
            for item in page.get("items") or []
        ]

    def _cluster(self, plural: str, name: str) -> dict[str, Any] | None:
        group = group_of(plural, self.mode)
        return read_raw(self.custom.get_cluster_custom_object, group, VERSION, plural, name)

    def _moscs(self, name: str | None) -> list[dict[str, Any]]:
        if name is None:
            list_all = self.custom.list_cluster_custom_object
            group = group_of(MACHINE_OS_CONFIGS, self.mode)
            return self._listed(MachineOSConfig.KIND, list_all, group, VERSION, MACHINE_OS_CONFIGS)
        found = self._cluster(MACHINE_OS_CONFIGS, name)
        if found is None:
            raise DryRunError(f"MachineOSConfig {name} not found")
        return [found]

    def _pool_and_config(self, raw_mosc: dict[str, Any]) -> list[dict[str, Any]]:
        pool_name = ((raw_mosc.get("spec") or {}).get("machineConfigPool") or {}).get("name")
        pool = self._cluster(MACHINE_CONFIG_POOLS, str(pool_name)) if pool_name else None
        if pool is None:
            return []
        try:
            config = MachineConfigPool.from_k8s(pool).rendered_config_name
        except ValidationError:
            config = None  # the dry run says what is wrong with the pool
        rendered = self._cluster(MACHINE_CONFIGS, str(config)) if config else None
        found = [pool] + ([rendered] if rendered is not None else [])
        if self.mode is Mode.ALONGSIDE_MCO:  # our MachineConfig, the release's base
            ours = self._cluster(MACHINE_CONFIGS, published_config_name(str(pool_name)))
            namespace, name = self.osimageurl
            configmap = read_raw(self.core.read_namespaced_config_map, name, namespace)
            found += [{**o, "kind": k} for o, k in ((ours, "MachineConfig"),
                      (configmap, "ConfigMap")) if o is not None]  # fmt: skip
        return found

    def _builds(self, mosc: str) -> list[dict[str, Any]]:
        list_all = self.custom.list_cluster_custom_object
        selector = f"{MACHINE_OS_CONFIG_LABEL}={mosc}"
        return self._listed(
            MachineOSBuild.KIND,
            list_all,
            group_of(MACHINE_OS_BUILDS, self.mode),
            VERSION,
            MACHINE_OS_BUILDS,
            label_selector=selector,
        )

    def _jobs_and_pods(self) -> list[dict[str, Any]] | None:
        """Our Jobs and Pods; None when listing them is forbidden."""
        ours = f"{BUILD_OBJECT_LABEL}=true"
        try:
            return self._listed(
                "Job", self.batch.list_namespaced_job, self.namespace, label_selector=ours
            ) + self._listed(
                "Pod", self.core.list_namespaced_pod, self.namespace, label_selector=ours
            )
        except ApiException as exc:
            if not _forbidden(exc):
                raise
            return None

    def _secrets(self, raw_mosc: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The MOSC's Secrets reduced to name and type (their data goes out of scope at
        once); None when reading them is forbidden."""
        spec = raw_mosc.get("spec") or {}
        found = []
        for ref in ("renderedImagePushSecret", "baseImagePullSecret"):
            name = (spec.get(ref) or {}).get("name")
            if not name:
                continue
            try:
                secret = read_raw(self.core.read_namespaced_secret, name, self.namespace)
            except ApiException as exc:
                if not _forbidden(exc):
                    raise
                return None
            if secret is not None:
                meta = {"name": name, "namespace": self.namespace}
                found.append({"kind": "Secret", "metadata": meta, "type": secret.get("type", "")})
        return found

    def read(self, mosc_name: str | None) -> LiveObjects:
        """The MachineOSConfig (as stored: the dry run says what is wrong with it), its
        pool and rendered MachineConfig, all Nodes, its MachineOSBuilds, our Jobs and Pods,
        and its Secrets (name and type)."""
        raw = dict(pick_mosc(self._moscs(mosc_name), mosc_name))
        name = str((raw.get("metadata") or {}).get("name", ""))
        objects = [raw, *self._pool_and_config(raw), *self._listed("Node", self.core.list_node)]
        objects += self._builds(name)
        jobs, secrets = self._jobs_and_pods(), self._secrets(raw)
        objects += (jobs or []) + (secrets or [])
        return LiveObjects(
            objects, secrets_checked=secrets is not None, jobs_known=jobs is not None
        )
