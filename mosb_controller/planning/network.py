"""What the cluster provides for reaching registries: the proxy and the CAs to trust. Pure.

`cluster/network.py` reads the sources; this decides what they mean. The proxy is the
Proxy's status when the operator is told to read one (the network operator publishes there
the values it validated; upstream's build pods take only those), else the operator's own
settings. The CAs are every configured source, each its own file of the one directory
buildah and skopeo trust (`--cert-dir`): the registry CA ConfigMap, the cluster's
additional trust bundle with the Proxy's trustedCA (as upstream joins them), and the
service CA. Neither is an input of a build's identity: upstream rebuilds on neither, and a
proxy or CA change alters how a registry is reached, not what the image holds (in builder
mode the bundle baked in is the one the rendered config also writes on every node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mosb_controller.settings import Settings

# The variables upstream's build pod sets and its template declares as build args.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# The Proxy status field of each (config.openshift.io/v1 ProxyStatus).
_STATUS_FIELDS = {"HTTP_PROXY": "httpProxy", "HTTPS_PROXY": "httpsProxy", "NO_PROXY": "noProxy"}

# File names in the CA directory, one a source (Go reads every *.crt there as CAs).
REGISTRY_CA_FILE = "registry-ca.crt"
ADDITIONAL_TRUST_FILE = "user-ca-bundle.crt"
SERVICE_CA_FILE = "service-ca.crt"


@dataclass(frozen=True)
class ClusterNetwork:
    proxy: Mapping[str, str] = field(default_factory=dict)  # PROXY_VARIABLES that are set
    trust: Mapping[str, str] = field(default_factory=dict)  # CA file name → PEM

    def proxy_env(self) -> dict[str, str]:
        """The proxy as a process environment, in both spellings: buildah and skopeo (Go)
        read either, and buildah hands RUN steps the proxy variables it was given
        (`--http-proxy`, on by default), where curl, and dnf through libcurl, read only
        the lowercase `http_proxy`. upstream sets the uppercase names only."""
        return {k: v for name, v in self.proxy.items() for k in (name, name.lower())}

    @property
    def additional_trust_bundle(self) -> str:
        """The cluster's own bundle (empty: none), for builder mode's image."""
        return self.trust.get(ADDITIONAL_TRUST_FILE, "")


NO_NETWORK = ClusterNetwork()  # no proxy, no CAs: a plain cluster with nothing configured


def proxy_values(settings: Settings, status: Mapping[str, Any] | None) -> dict[str, str]:
    """The proxy builds and checks use: with `--cluster-proxy`, that Proxy's status (none
    while the network operator has published nothing, as upstream: a spec it has not
    accepted is not in effect); otherwise the operator's settings."""
    if settings.cluster_proxy:
        given = {name: str((status or {}).get(key) or "") for name, key in _STATUS_FIELDS.items()}
    else:
        given = dict(zip(PROXY_VARIABLES, (settings.http_proxy, settings.https_proxy,
                                           settings.no_proxy), strict=True))  # fmt: skip
    return {name: value for name, value in given.items() if value}


def trust_files(
    registry_ca: str | None, additional: Iterable[str | None], service_ca: str | None
) -> dict[str, str]:
    """The CA directory's files from the sources found (None or empty: not there). The
    additional bundles (user-ca-bundle, then a different trustedCA) are joined in one file."""
    joined = "".join(_pem(b) for b in additional if b)
    found = {REGISTRY_CA_FILE: registry_ca, ADDITIONAL_TRUST_FILE: joined,
             SERVICE_CA_FILE: service_ca}  # fmt: skip
    return {name: _pem(pem) for name, pem in found.items() if pem}


def _pem(text: str) -> str:
    """A bundle ending in a newline, so joined bundles never run two lines together."""
    return text if text.endswith("\n") else text + "\n"
