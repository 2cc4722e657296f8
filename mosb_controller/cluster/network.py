"""Reads what the cluster provides for reaching registries: the Proxy (config.openshift.io)
and the ConfigMaps of CAs the settings name. `planning/network.py` decides what they mean;
the build loop puts the answer into `Observed` and the image checks use it.

Read on demand, not watched: a few small objects that change rarely, read at most once per
`recent.TTL_SECONDS` for every MachineOSConfig's passes together (a burst of passes makes one
read). The exception is the CA ConfigMaps in the controller namespace: the operator watches
them (runtime/handlers.py `trust_index`) and the build loop passes them in, so on a plain
cluster a pass reads nothing here (before, a GET of the registry CA each 5 s of passes). A change
reaches builds that start after it (a build's CAs travel in its inputs ConfigMap); it
never restarts or rebuilds one (planning/network.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
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


def watched_configmaps(settings: Settings) -> frozenset[tuple[str, str]]:
    """The CA ConfigMaps the settings name in the controller namespace: the operator's
    watch of that namespace indexes them (runtime/handlers.py `trust_index`)."""
    names = (settings.registry_ca_configmap, settings.service_ca_configmap)
    return frozenset((settings.namespace, name) for name in names if name)


Watched = Mapping[str, Mapping[str, str] | None]  # watched_configmaps by name → data


class NetworkReader:
    """The proxy and CAs. Each source is read at most once per `recent.TTL_SECONDS` for all
    passes together; the controller namespace's CA ConfigMaps come from the operator's
    watch when the caller passes them (`watched`: the build loop's pass), with no read."""

    def __init__(self, writer: Writer, settings: Settings) -> None:
        self.writer, self.settings = writer, settings
        self._configmaps: RecentReads[tuple[str, str], dict[str, str] | None] = RecentReads()
        self._proxies: RecentReads[str, dict[str, Any] | None] = RecentReads(maxsize=1)

    def read(self, watched: Watched | None = None) -> ClusterNetwork:
        """The proxy and CAs now. Blocking: call it from a worker thread. API errors other
        than "not found" propagate: a pass that cannot know the proxy fails and is
        retried, rather than build without it."""
        settings = self.settings
        name = settings.cluster_proxy
        proxy = (self._proxies.get(name, self._proxy) if name else None) or {}
        own = buildsecrets.reference(settings.additional_trust_bundle)
        bundles = [self._ca(own, CA_BUNDLE_KEY, watched)]
        trusted = ((proxy.get("spec") or {}).get("trustedCA") or {}).get("name")
        if trusted and (OPENSHIFT_CONFIG_NAMESPACE, trusted) != own:
            # As upstream: the Proxy's bundle is added when it is another ConfigMap.
            where = (OPENSHIFT_CONFIG_NAMESPACE, str(trusted))
            bundles.append(self._ca(where, CA_BUNDLE_KEY, watched))
        return ClusterNetwork(
            proxy=network.proxy_values(settings, proxy.get("status")),
            trust=network.trust_files(
                self._ca(self._here(settings.registry_ca_configmap), CA_BUNDLE_KEY, watched),
                bundles,
                self._ca(self._here(settings.service_ca_configmap), SERVICE_CA_KEY, watched),
            ),
        )

    def _here(self, name: str) -> tuple[str, str] | None:
        return (self.settings.namespace, name) if name else None

    def observe(self, obs: Observed, watched: Watched | None = None) -> Observed:
        """`obs` with the proxy and CAs now (the build loop's pass)."""
        return dataclasses.replace(obs, network=self.read(watched))

    def _ca(self, where: tuple[str, str] | None, key: str, watched: Watched | None) -> str | None:
        if where is None:
            return None
        if watched is not None and where in watched_configmaps(self.settings):
            data = watched.get(where[1])
        else:
            data = self._configmaps.get(where, lambda: self.writer.read_configmap_data(*where))
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
