"""The build's Secrets on the API server: the MOSC's registry credentials where they
live, the global pull secret, the entitlement (and its RPM repositories' and keys'
ConfigMaps, which go into the inputs ConfigMap), and the build's copies of them
(planning/buildsecrets.py decides; this reads and writes). Their data is never logged,
and held for at most `recent.TTL_SECONDS` after it is read (`SecretReader`): every build
of a burst reads the same push secret for its image checks and its copies.
"""

from __future__ import annotations

import dataclasses
import logging

import kubernetes
from kubernetes.client import ApiException

from mosb_controller.cluster.kube import Writer
from mosb_controller.cluster.recent import RecentReads
from mosb_controller.planning import buildsecrets
from mosb_controller.planning.buildsecrets import SecretCopy
from mosb_controller.planning.observed import Observed
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)


class SecretReader:
    """Secrets (type and decoded data) and ConfigMaps (data), as read within the last
    few seconds: one reader for the image checks, the pruner and the build's copies."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._secrets: RecentReads[tuple[str, str], tuple[str, dict[str, bytes]] | None]
        self._secrets = RecentReads()
        self._configmaps: RecentReads[tuple[str, str], dict[str, str] | None] = RecentReads()

    def secret(self, namespace: str, name: str) -> tuple[str, dict[str, bytes]] | None:
        return self._secrets.get(
            (namespace, name), lambda: self.writer.read_secret(namespace, name)
        )

    def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._configmaps.get(
            (namespace, name), lambda: self.writer.read_configmap_data(namespace, name)
        )


class SecretStore:
    def __init__(self, writer: Writer, reader: SecretReader | None = None) -> None:
        self.writer, self.core = writer, writer.core
        self.reader = reader or SecretReader(writer)

    def _type(self, namespace: str, name: str) -> str | None:
        found = self.reader.secret(namespace, name)
        return None if found is None else found[0]

    def observe(self, obs: Observed) -> Observed:
        """`obs` with what the planner needs to know of Secrets outside the controller
        namespace (the kopf index sees only that one): their types."""
        settings, spec = obs.settings, obs.mosc.spec
        named = None
        namespace = buildsecrets.secrets_namespace(settings)
        if namespace != settings.namespace:
            names = [spec.rendered_image_push_secret.name]
            if spec.base_image_pull_secret is not None:
                names.append(spec.base_image_pull_secret.name)
            found = {name: self._type(namespace, name) for name in names}
            named = {name: kind for name, kind in found.items() if kind is not None}
        fallback = buildsecrets.global_pull_secret(settings)
        kind = self._type(*fallback) if fallback else None
        entitlement = buildsecrets.entitlement_secret(settings)
        entitled = entitlement is not None and self._type(*entitlement) is not None
        # Read whole: their files go into the build's inputs ConfigMap (a pod mounts only
        # ConfigMaps of its own namespace). Absent ones are empty: builds go without.
        yum, gpg = (
            (self.reader.configmap_data(*ref) or {}) if ref else {}
            for ref in buildsecrets.repo_configmaps(settings)
        )
        return dataclasses.replace(
            obs,
            named_secrets=named,
            global_pull_secret=kind,
            entitlement=entitled,
            yum_repos=yum,
            rpm_gpg=gpg,
        )

    def make_copy(self, copy: SecretCopy, settings: Settings) -> None:
        """Write the copy from its source as it is now, give or take the reader's few
        seconds (replacing an older copy)."""
        source = self.reader.secret(copy.source_namespace, copy.source)
        content = buildsecrets.copy_data(copy, *source) if source else None
        if content is None:  # gone or unreadable since the plan: the next pass says so
            log.warning(
                "the %s secret %s/%s is missing or unusable; its copy is not made",
                copy.role, copy.source_namespace, copy.source,
            )  # fmt: skip
            return
        # An earlier build's copy of the same name (a rebuild, a retry) is replaced: delete
        # and create again (with create and deletecollection only, the operator needs no
        # update).
        body = kubernetes.client.V1Secret.model_validate(
            buildsecrets.copy_body(copy, content, settings)
        )
        namespace = settings.namespace
        try:
            self.core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.writer.delete_secret_copy(namespace, copy.name)
            self.core.create_namespaced_secret(namespace, body)
