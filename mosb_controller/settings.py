"""Operator settings: every knob is a CLI flag and an environment variable.

One table of fields drives the flags, the environment and the README's configuration table,
so the three can't drift apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api import OSIMAGEURL_CONFIGMAP, OSIMAGEURL_NAMESPACE, Mode
from api.names import MCO_IMAGE_FIELD, MCO_IMAGES_CONFIGMAP, MCO_IMAGES_KEY

ENV_PREFIX = "MOSB_"
# The build and push Jobs' image on a plain cluster (on OpenShift: the MCO's, discovered).
DEFAULT_BUILDER_IMAGE = "quay.io/buildah/stable:v1.38"
NAMESPACED_NAME = "^([a-z0-9][-a-z0-9]*/[-.a-z0-9]+)?$"  # a namespace/name setting, or empty
NEGATABLE = {"leader_election", "pause_pools_on_upgrade", "prune_images"}  # --x / --no-x


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = Field(
        default=Mode.BUILDER,
        description="builder: act on machineconfiguration.openshift.io MachineOSConfigs and "
        "publish through their status; alongside-mco: act on our own group's and publish "
        "through one MachineConfig per pool (README: Two modes).",
    )
    osimageurl_namespace: str = Field(
        default=OSIMAGEURL_NAMESPACE,
        description="alongside-mco: namespace of the ConfigMap naming the release's base OS image.",
    )
    osimageurl_configmap: str = Field(
        default=OSIMAGEURL_CONFIGMAP,
        description="alongside-mco: that ConfigMap's name (key baseOSContainerImage).",
    )
    pause_pools_on_upgrade: bool = Field(
        default=True,
        description="alongside-mco: pause a pool while a new base image's rebuild runs, so "
        "its nodes reboot once (README: Upgrades).",
    )
    namespace: str = Field(
        default="mosb-controller",
        description="Namespace of the controller: the architecture ConfigMap and build Jobs.",
    )
    arch_configmap: str = Field(
        default="mosb-architectures",
        description="Name of the ConfigMap recording the architectures per pool and cluster.",
    )
    log_format: str = Field(
        default="text",
        pattern="^(text|json)$",
        description="Log format: text (one readable line) or json (one object a line).",
    )
    metrics_port: int = Field(
        default=9090,
        ge=0,
        le=65535,
        description="Port of the Prometheus metrics endpoint (/metrics); 0: off.",
    )
    metrics_address: str = Field(
        default="0.0.0.0",  # noqa: S104 - a pod serves its metrics to the cluster
        description="Address the metrics endpoint listens on.",
    )
    liveness: str = Field(
        default="",
        description="kopf's liveness endpoint, e.g. http://0.0.0.0:8080/healthz; empty: none.",
    )
    builder_image: str = Field(
        default="",
        description="Image of the build and push Jobs: multi-architecture, with bash, "
        "coreutils, grep, sed and buildah; empty: the MCO's own image when "
        f"--mco-images-configmap is set, else {DEFAULT_BUILDER_IMAGE}.",
    )
    mco_images_configmap: str = Field(
        default="",
        pattern=NAMESPACED_NAME,
        description="namespace/name of the MCO's ConfigMap of the payload's images (key "
        f"{MCO_IMAGES_KEY}, field {MCO_IMAGE_FIELD}): that image builds when --builder-image "
        f"is empty, as upstream's (OpenShift: {OSIMAGEURL_NAMESPACE}/{MCO_IMAGES_CONFIGMAP}); "
        "empty: none.",
    )
    build_cpu: str = Field(default="1", description="CPU request of a build container.")
    build_memory: str = Field(default="2Gi", description="Memory request of a build container.")
    build_memory_limit: str = Field(default="8Gi", description="Memory limit of a build container.")
    build_backoff_limit: int = Field(
        default=3, ge=0, le=10, description="Retries of a build or push Job's pod (upstream: 3)."
    )
    build_service_account: str = Field(
        default="mosb-builder", description="ServiceAccount the build and push pods run as."
    )
    secrets_namespace: str = Field(
        default="",
        description="Namespace of the Secrets a MachineOSConfig names (upstream: "
        "openshift-machine-config-operator); empty: the controller namespace.",
    )
    global_pull_secret: str = Field(
        default="",
        pattern=NAMESPACED_NAME,
        description="namespace/name of the cluster's pull secret, for the base image when a "
        "MachineOSConfig names no baseImagePullSecret (OpenShift: openshift-config/pull-secret); "
        "empty: none.",
    )
    entitlement_secret: str = Field(
        default="",
        pattern=NAMESPACED_NAME,
        description="namespace/name of the RHEL entitlement Secret whose files RUN steps see "
        "under /etc/pki/entitlement (OpenShift: openshift-config-managed/etc-pki-entitlement); "
        "empty or absent: builds run without it.",
    )
    yum_repos_configmap: str = Field(
        default="",
        pattern="^([a-z0-9][-a-z0-9]*/[-.a-z0-9]+)?$",
        description="namespace/name of a ConfigMap of .repo files that RUN steps see in "
        "/etc/yum.repos.d (OpenShift: openshift-config-managed/etc-yum-repos-d); empty or "
        "absent: builds run without it.",
    )
    rpm_gpg_configmap: str = Field(
        default="",
        pattern="^([a-z0-9][-a-z0-9]*/[-.a-z0-9]+)?$",
        description="namespace/name of a ConfigMap of RPM GPG keys that RUN steps see in "
        "/etc/pki/rpm-gpg (OpenShift: openshift-config-managed/etc-pki-rpm-gpg); empty or "
        "absent: builds run without it.",
    )
    image_format: str = Field(
        default="oci", pattern="^(oci|docker)$", description="Image and list format: oci or docker."
    )
    registry_tls_verify: bool = Field(
        default=True, description="Verify registry TLS certificates in builds and checks."
    )
    registry_ca_configmap: str = Field(
        default="",
        description="ConfigMap (key ca-bundle.crt) of extra registry CAs to trust; empty: none.",
    )
    # Trust and proxy: what the cluster provides (README: What the cluster provides → how
    # the build uses it). Every CA source lands in the one CA directory the scripts trust.
    additional_trust_bundle: str = Field(
        default="",
        pattern="^([a-z0-9][-a-z0-9]*/[-.a-z0-9]+)?$",
        description="namespace/name of the ConfigMap (key ca-bundle.crt) of the cluster's "
        "additional trust bundle, trusted by builds, pushes and checks and baked into builder "
        "mode's image (OpenShift: openshift-config/user-ca-bundle); empty or absent: none.",
    )
    service_ca_configmap: str = Field(
        default="",
        description="ConfigMap (key service-ca.crt) in the controller namespace holding the "
        "service CA, for registries served by cluster Services (OpenShift injects "
        "openshift-service-ca.crt into every namespace); empty or absent: none.",
    )
    cluster_proxy: str = Field(
        default="",
        description="Name of the config.openshift.io Proxy whose status gives builds and "
        "checks HTTP_PROXY, HTTPS_PROXY, NO_PROXY and whose spec.trustedCA is trusted too "
        "(OpenShift: cluster); empty: the --http-proxy, --https-proxy, --no-proxy settings.",
    )
    http_proxy: str = Field(
        default="", description="Without --cluster-proxy: HTTP_PROXY of builds and checks."
    )
    https_proxy: str = Field(
        default="", description="Without --cluster-proxy: HTTPS_PROXY of builds and checks."
    )
    no_proxy: str = Field(
        default="", description="Without --cluster-proxy: NO_PROXY of builds and checks."
    )
    no_node_timeout_seconds: int = Field(
        default=900,
        ge=0,
        description="How long an architecture may wait for a Ready schedulable node "
        "before its build fails.",
    )
    retention_count: int = Field(
        default=3,
        ge=0,
        le=1000,
        description="Finished MachineOSBuilds kept per MachineOSConfig besides the current "
        "one; older ones are deleted.",
    )
    prune_images: bool = Field(
        default=True,
        description="Delete a deleted MachineOSBuild's image tags from the registry unless "
        "an image still in use needs them.",
    )
    leader_election: bool = Field(
        default=True,
        description="Only the replica holding the Lease records architectures and builds.",
    )
    leader_election_lease_name: str = Field(
        default="mosb-controller-leader",
        description="Name of the coordination.k8s.io Lease in the controller namespace.",
    )
    leader_election_lease_duration_seconds: int = Field(
        default=15,
        ge=2,
        description="How long a Lease not renewed stays with its holder before another "
        "replica may take it.",
    )
    leader_election_renew_deadline_seconds: int = Field(
        default=10,
        ge=2,
        description="The leader exits when it could not renew the Lease for this long.",
    )
    leader_election_retry_period_seconds: int = Field(
        default=2, ge=1, description="Interval between Lease renewals and acquisition tries."
    )

    @model_validator(mode="after")
    def _lease_timing(self) -> Settings:
        # What kubernetes.leaderelection requires; checked here for a readable error.
        duration = self.leader_election_lease_duration_seconds
        deadline = self.leader_election_renew_deadline_seconds
        if not duration > deadline > 1.2 * self.leader_election_retry_period_seconds:
            raise ValueError(
                "leader election needs lease duration > renew deadline > 1.2 * retry period"
            )
        return self

    @model_validator(mode="after")
    def _one_proxy_source(self) -> Settings:
        # Two sources would need a merge rule nobody can guess; say so at start instead.
        if self.cluster_proxy and (self.http_proxy or self.https_proxy or self.no_proxy):
            raise ValueError(
                "--cluster-proxy reads the proxy from the cluster: leave --http-proxy, "
                "--https-proxy and --no-proxy empty"
            )
        return self

    @classmethod
    def flag(cls, name: str) -> str:
        return "--" + name.replace("_", "-")

    @classmethod
    def env(cls, name: str) -> str:
        return ENV_PREFIX + name.upper()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for name, info in cls.model_fields.items():
            parser.add_argument(
                cls.flag(name),
                dest=name,
                default=None,
                action=argparse.BooleanOptionalAction if name in NEGATABLE else "store",
                help=f"{info.description} Env {cls.env(name)}; default {info.default!r}.",
            )

    @classmethod
    def load(
        cls, args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Flags win over the environment, which wins over defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            flag_value = getattr(args, name, None) if args is not None else None
            if flag_value is not None:
                values[name] = flag_value
            elif cls.env(name) in environ:
                values[name] = environ[cls.env(name)]
        return cls.model_validate(values)

    @classmethod
    def markdown_table(cls) -> str:
        rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
        for name, info in cls.model_fields.items():
            flag, env = f"`{cls.flag(name)}`", cls.env(name)
            if name in NEGATABLE:
                flag += f" / `--no-{cls.flag(name)[2:]}`"
            rows.append(f"| {flag} | `{env}` | `{info.default}` | {info.description} |")
        return "\n".join(rows)
