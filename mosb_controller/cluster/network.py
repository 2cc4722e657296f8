"""Reads what the cluster provides for reaching registries: the Proxy (config.openshift.io)
and the ConfigMaps of CAs the settings name. `planning/network.py` decides what they mean;
the build loop puts the answer into `Observed` and the image checks use it.

Read on demand, not watched: a few small objects that change rarely, read at most once per
`recent.TTL_SECONDS` for every MachineOSConfig's passes together (a burst of passes makes one
read). A change reaches builds that start after it (a build's CAs travel in its inputs
ConfigMap); it never restarts or rebuilds one (planning/network.py).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from kubernetes.client import ApiException

from api.names import (
    CA_BUNDLE_KEY,
    CONFIG_GROUP,
    OPENSHIFT_CONFIG_NAMESPACE,
    PROXIES,
    SERVICE_CA_KEY,
)
from mosb_controller.cluster.kube import Writer
from mosb_controller.cluster.recent import RecentReads
from mosb_controller.planning import buildsecrets, network
from mosb_controller.planning.network import ClusterNetwork
from mosb_controller.planning.observed import Observed
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
CONFIG_VERSION = "v1"


class NetworkReader:
    def __init__(self, writer: Writer, settings: Settings) -> None:
        self.writer, self.settings = writer, settings
        self._last: RecentReads[str, ClusterNetwork] = RecentReads(maxsize=1)

    def read(self) -> ClusterNetwork:
        """The proxy and CAs now (at most `recent.TTL_SECONDS` old). Blocking: call it from a
        worker thread. API errors other than "not found" propagate: a pass that cannot
        know the proxy fails and is retried, rather than build without it."""
        return self._last.get("network", self._read)

    def observe(self, obs: Observed) -> Observed:
        """`obs` with the proxy and CAs now (the build loop's pass)."""
        return dataclasses.replace(obs, network=self.read())

    def _read(self) -> ClusterNetwork:
        settings = self.settings
        proxy = (self._proxy() if settings.cluster_proxy else None) or {}
        own = buildsecrets.reference(settings.additional_trust_bundle)
        bundles = [self._ca(own, CA_BUNDLE_KEY)]
        trusted = ((proxy.get("spec") or {}).get("trustedCA") or {}).get("name")
        if trusted and (OPENSHIFT_CONFIG_NAMESPACE, trusted) != own:
            # As upstream: the Proxy's bundle is added when it is another ConfigMap.
            bundles.append(self._ca((OPENSHIFT_CONFIG_NAMESPACE, str(trusted)), CA_BUNDLE_KEY))
        return ClusterNetwork(
            proxy=network.proxy_values(settings, proxy.get("status")),
            trust=network.trust_files(
                self._ca(self._here(settings.registry_ca_configmap), CA_BUNDLE_KEY),
                bundles,
                self._ca(self._here(settings.service_ca_configmap), SERVICE_CA_KEY),
            ),
        )

    def _here(self, name: str) -> tuple[str, str] | None:
        return (self.settings.namespace, name) if name else None

    def _ca(self, where: tuple[str, str] | None, key: str) -> str | None:
        if where is None:
            return None
        data = self.writer.read_configmap_data(*where)
        if data is None:
            log.debug("CA ConfigMap %s/%s not found: not trusted", *where)
        return (data or {}).get(key)

    def _proxy(self) -> dict[str, Any] | None:
        name = self.settings.cluster_proxy
        try:
            found = self.writer.custom.get_cluster_custom_object(
                CONFIG_GROUP, CONFIG_VERSION, PROXIES, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.info("Proxy %s not found: builds use no proxy", name)
            return None
        return found if isinstance(found, dict) else None
