"""The API layer: the only module that talks to the Kubernetes API.

Synchronous `kubernetes` client calls; async callers run them in a thread. Every write is
idempotent (server-side apply, merge patches of our own keys, create-if-absent) so a crash
or a second run converges to the same objects.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, ApiException

from api import (
    BUILD_OBJECT_LABEL,
    BUILD_UID_LABEL,
    GROUP,
    MACHINE_CONFIG_POOLS,
    MACHINE_CONFIGS,
    VERSION,
    Mode,
    group_of,
)

FIELD_MANAGER = "mosb-controller"
# The API server accepts an event about a cluster-scoped object only in "default" (core/v1
# events without eventTime; client-go's recorder does the same), so the RBAC grants
# `create events` there and nothing else outside our namespace.
EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS = "default"
CONNECTIONS = 40

log = logging.getLogger(__name__)


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> ApiClient:
    """As kubectl: a kubeconfig (given, or in KUBECONFIG) or context given wins; else
    in-cluster credentials when running in a pod, else ~/.kube/config."""
    config = kubernetes.client.Configuration()
    try:
        if kubeconfig or context or os.environ.get("KUBECONFIG"):
            raise kubernetes.config.ConfigException("a kubeconfig or context was given")
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=config
        )
    # One kept-alive connection per writer thread (the default is 5 per core).
    config.connection_pool_maxsize = CONNECTIONS
    return ApiClient(config)


def pages(
    call: Callable[..., Any], *args: Any, page_size: int = 500, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """A list call's pages as raw JSON (the client's models would validate every field of
    every object), `page_size` objects each: large clusters are read a page at a time."""
    token: str | None = None
    while True:
        response = call(*args, limit=page_size, _continue=token, _preload_content=False, **kwargs)
        page = json.loads(response.data)
        yield page
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def read_raw(call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
    """A get call's object as raw JSON; None when it does not exist."""
    try:
        response = call(*args, _preload_content=False)
    except ApiException as exc:
        _ignore(404, exc)
        return None
    data = json.loads(response.data)
    return data if isinstance(data, dict) else None


class Kube:
    def __init__(
        self, client: ApiClient, component: str = "mosb-controller", mode: Mode = Mode.BUILDER
    ) -> None:
        self.client = client
        self.mode = mode  # which group MachineOSConfigs and MachineOSBuilds are served in
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.component = component

    # -- MachineConfigPools -----------------------------------------------------------
    def set_pool_annotation(self, pool: str, key: str, value: str | None) -> None:
        """Set (or remove, with None) one annotation on a pool; a vanished pool is fine."""
        body = {"metadata": {"annotations": {key: value}}}
        try:
            self.custom.patch_cluster_custom_object(
                GROUP, VERSION, MACHINE_CONFIG_POOLS, pool, body
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.info("pool %s vanished before its annotation was written", pool)

    def hold_pool(self, pool: str, key: str, paused: bool | None, note: str | None) -> str | None:
        """Pause or release a pool with our annotation (`note` None: removed), in one
        merge patch: the reason is never seen without the pause, nor ours without it.
        Returns the new resourceVersion."""
        body: dict[str, Any] = {"metadata": {"annotations": {key: note}}}
        if paused is not None:
            body["spec"] = {"paused": paused}
        return _version(
            self.custom.patch_cluster_custom_object(
                GROUP, VERSION, MACHINE_CONFIG_POOLS, pool, body
            )
        )

    # -- ConfigMaps -------------------------------------------------------------------
    def apply_configmap(
        self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        """Server-side apply: keys we no longer send are removed, others' fields kept."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "data": dict(data),
        }
        self.core.patch_namespaced_config_map(
            name,
            namespace,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    # -- Events -----------------------------------------------------------------------
    def post_event(
        self, involved: Mapping[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event, shown by `kubectl describe` of the involved object."""
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS
        now = dt.datetime.now(dt.UTC)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(
                generate_name=f"{meta.get('name', 'object')}.", namespace=namespace
            ),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=involved.get("apiVersion"),
                kind=involved.get("kind"),
                name=meta.get("name"),
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            type=event_type,
            reason=reason,
            message=message[:1024],
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=kubernetes.client.V1EventSource(component=self.component),
            reporting_component=self.component,
            reporting_instance=self.component,
        )
        try:
            self.core.create_namespaced_event(namespace, event)
        except ApiException as exc:  # an event is never worth failing a reconcile for
            log.warning("could not post event %s on %s: %s", reason, meta.get("name"), exc.reason)


def api_error(exc: ApiException) -> str:
    """The API server's own message (a Status object), else status and reason."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")


def _ignore(status: int, exc: ApiException) -> None:
    if exc.status != status:
        raise exc


class Writer(Kube):
    """The writes a plan needs. Creates tolerate AlreadyExists and deletes NotFound, so
    a plan applied twice (or after a crash) converges to the same objects."""

    def _group(self, plural: str) -> str:
        return group_of(plural, self.mode)

    def create_cluster_object(self, plural: str, body: Mapping[str, Any]) -> None:
        group = self._group(plural)
        full = {**body, "apiVersion": f"{group}/{VERSION}"}
        try:
            self.custom.create_cluster_custom_object(group, VERSION, plural, full)
        except ApiException as exc:
            _ignore(409, exc)

    def apply_machine_config(self, body: Mapping[str, Any]) -> None:
        """Create our MachineConfig, or bring an existing one to `body` (labels,
        annotations, spec; a merge patch: others' keys stay)."""
        try:
            self.custom.create_cluster_custom_object(GROUP, VERSION, MACHINE_CONFIGS, dict(body))
            return
        except ApiException as exc:
            _ignore(409, exc)
        meta = body["metadata"]
        patch = {
            "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
            "spec": body["spec"],
        }
        self.custom.patch_cluster_custom_object(
            GROUP, VERSION, MACHINE_CONFIGS, meta["name"], patch
        )

    def delete_cluster_object(self, plural: str, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(
                self._group(plural), VERSION, plural, name, propagation_policy="Background"
            )
        except ApiException as exc:
            _ignore(404, exc)

    def patch_annotations(
        self,
        plural: str,
        name: str,
        changes: Mapping[str, str | None],
        resource_version: str | None = None,
    ) -> str | None:
        """Merge-patch annotations; with a resourceVersion the write is conditional (409
        if the object changed since it was observed). Returns the new resourceVersion
        (None if it is gone)."""
        meta: dict[str, Any] = {"annotations": dict(changes)}
        if resource_version:
            meta["resourceVersion"] = resource_version
        body = {"metadata": meta}
        try:
            return _version(
                self.custom.patch_cluster_custom_object(
                    self._group(plural), VERSION, plural, name, body
                )
            )
        except ApiException as exc:
            _ignore(404, exc)
            return None

    def patch_status(
        self, plural: str, name: str, status: Mapping[str, Any], resource_version: str | None
    ) -> str | None:
        """Merge-patch `status`; with a resourceVersion the write is conditional (409 if
        the object changed since it was observed). Returns the new resourceVersion."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return _version(
            self.custom.patch_cluster_custom_object_status(
                self._group(plural), VERSION, plural, name, body
            )
        )

    def create_namespaced(self, body: Mapping[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        try:
            if body["kind"] == "Job":
                # As a plain dict, through the generic path (/apis/batch/v1/...): the typed
                # create turned the body into a V1Job model and back, and the answer into
                # another, ~1 ms of a GIL-held thread per Job (the first ~8 ms: the models'
                # schemas are built on first use, inside a new MOSC's first Jobs).
                self.custom.create_namespaced_custom_object(
                    "batch", "v1", namespace, "jobs", dict(body)
                )
            else:
                self.core.create_namespaced_config_map(
                    namespace, kubernetes.client.V1ConfigMap.model_validate(dict(body))
                )
        except ApiException as exc:
            _ignore(409, exc)

    # Our Jobs and Secret copies are only ever deleted by a selector that names our label
    # (deletecollection): a wrong name can't reach an object the operator did not make,
    # and RBAC grants no plain `delete` on jobs or secrets.
    def delete_job(self, namespace: str, name: str) -> None:
        """One of our Jobs by name, its pods with it."""
        self._delete_jobs(namespace, *_ours(name=name))

    def delete_build_jobs(self, namespace: str, mosb_uid: str) -> None:
        """Every Job of one MachineOSBuild (by BUILD_UID_LABEL) in one request, their
        pods with them."""
        self._delete_jobs(namespace, *_ours(mosb_uid=mosb_uid))

    def _delete_jobs(self, namespace: str, labels: str, field: str | None) -> None:
        kubernetes.client.BatchV1Api(self.client).delete_collection_namespaced_job(
            namespace, label_selector=labels, field_selector=field, propagation_policy="Background"
        )

    def delete_secret_copy(self, namespace: str, name: str) -> None:
        """One of the builds' Secret copies by name."""
        self._delete_secrets(namespace, *_ours(name=name))

    def delete_build_secrets(self, namespace: str, mosb_uid: str) -> None:
        """Every Secret copy of one MachineOSBuild (by BUILD_UID_LABEL) in one request."""
        self._delete_secrets(namespace, *_ours(mosb_uid=mosb_uid))

    def _delete_secrets(self, namespace: str, labels: str, field: str | None) -> None:
        self.core.delete_collection_namespaced_secret(
            namespace, label_selector=labels, field_selector=field
        )

    def delete_configmap(self, namespace: str, name: str) -> None:
        try:
            self.core.delete_namespaced_config_map(name, namespace)
        except ApiException as exc:
            _ignore(404, exc)

    def read_secret(self, namespace: str, name: str) -> tuple[str, dict[str, bytes]] | None:
        """A Secret's type and decoded data; None if it does not exist."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            _ignore(404, exc)
            return None
        data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
        return str(secret.type or ""), data

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            return dict(self.core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as exc:
            _ignore(404, exc)
            return None


def _ours(name: str = "", mosb_uid: str = "") -> tuple[str, str | None]:
    """Label and field selectors for deletecollection: always our build-object label, and
    a name or the owning MOSB's uid (never neither: that selects every build object)."""
    if not (name or mosb_uid):
        raise ValueError("a build object's name or its MachineOSBuild's uid is needed")
    labels = f"{BUILD_OBJECT_LABEL}=true"
    labels += f",{BUILD_UID_LABEL}={mosb_uid}" if mosb_uid else ""
    return labels, f"metadata.name={name}" if name else None


def _version(obj: Any) -> str | None:
    return (
        ((obj or {}).get("metadata") or {}).get("resourceVersion")
        if isinstance(obj, dict)
        else None
    )


def api_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed API call; None for any other error."""
    return exc.status if isinstance(exc, ApiException) else None
