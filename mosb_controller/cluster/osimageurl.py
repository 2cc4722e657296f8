"""alongside-mco: a list-then-watch of one ConfigMap, the MCO's `machine-config-osimageurl`,
keeping only its `baseOSContainerImage` (the release's base OS image).

Why not kopf: kopf serves one set of namespaces for every namespaced watch, and this one
ConfigMap lives in the MCO's namespace. Adding that namespace would widen the Secret and
Pod watches too. A field selector on the name lets the RBAC grant exactly this object
(`resourceNames` applies to list and watch with `metadata.name=`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes.client import ApiClient

from mosb_controller.planning.inputs import release_base

log = logging.getLogger(__name__)

OnBase = Callable[[str | None], object]  # None: the ConfigMap or its key is missing


def base_image(configmap: dict[str, Any] | None) -> str | None:
    return release_base((configmap or {}).get("data"))


class OsImageUrlWatch:
    def __init__(
        self,
        client: ApiClient,
        namespace: str,
        name: str,
        on_base: OnBase,
        watch_seconds: int = 300,
    ) -> None:
        self.core = kubernetes.client.CoreV1Api(client)
        self.namespace, self.name, self.on_base = namespace, name, on_base
        self.watch_seconds = watch_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        threading.Thread(target=self._run, name="osimageurl-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()  # the daemon thread ends at its next event or with the process

    def _deliver(self, base: str | None) -> None:
        assert self._loop is not None
        if not self._stopped.is_set():
            self._loop.call_soon_threadsafe(self.on_base, base)

    def _run(self) -> None:
        backoff = 0.5
        selector = f"metadata.name={self.name}"
        while not self._stopped.is_set():
            try:
                listed = self.core.list_namespaced_config_map(
                    self.namespace, field_selector=selector
                )
                items = listed.items or []
                self._deliver(base_image(items[0].to_dict()) if items else None)
                backoff = 0.5
                watch = kubernetes.watch.Watch()
                for event in watch.stream(
                    self.core.list_namespaced_config_map,
                    self.namespace,
                    field_selector=selector,
                    resource_version=listed.metadata.resource_version if listed.metadata else None,
                    timeout_seconds=self.watch_seconds,
                ):
                    if self._stopped.is_set():
                        return
                    obj = event["object"].to_dict()
                    self._deliver(None if event["type"] == "DELETED" else base_image(obj))
            except Exception as exc:  # API down, watch expired: list again, bounded backoff
                if self._stopped.is_set():
                    return
                log.warning("osimageurl watch failed (%s); retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
