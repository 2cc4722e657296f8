"""Build inputs, MachineOSBuild identity and per-architecture build keys. Pure.

The MOSB name hashes a canonical form of everything that decides what is built, with
every set-like thing a set: the target architectures are a set, and the containerfiles a
map architecture → content, already resolved (an architecture's own entry, else NoArch)
and restricted to the target architectures. So reordering `containerFile` entries or
nodes, or adding an entry for an architecture the pool doesn't have, changes nothing.
Each architecture's key hashes the inputs that decide that architecture's image
(`_rebuild_inputs`, the one place the rule lives): in builder mode upstream's rebuild
rule per architecture (base image, extensions image and list, kernelType, kernelArguments,
the architecture's Containerfile, the repository), so a new rendered config that changes
only files or units is a new MOSB whose every architecture reuses its earlier image.
Without OS content (the plain form) the rendered config's name is in every key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from api import (
    BASE_OS_CONTAINER_IMAGE_KEY,
    ContainerfileArch,
    EventReason,
    ImageReference,
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    Mode,
    validate_image_digest_format,
)
from api.enums import KernelType
from mosb_controller.arch import ArchSummary
from mosb_controller.planning import containerfile, hashing
from mosb_controller.planning.clusterfiles import ClusterFiles
from mosb_controller.planning.containerfile import OSContent
from mosb_controller.planning.network import NO_NETWORK, ClusterNetwork
from mosb_controller.settings import DEFAULT_BUILDER_IMAGE

NAME_HASH_LENGTH = 16
MAX_LABEL = 63
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Refusal:
    """Why no build can be planned yet; `reason` is CamelCase, `message` for people."""

    reason: EventReason
    message: str
    quiet: bool = False  # a moment's wait (e.g. a pool not yet recorded), not worth an event


@dataclass(frozen=True)
class BuildInputs:
    mosc: str
    pool: str
    rendered_config: str
    base_image: str
    architectures: tuple[str, ...]
    containerfiles: Mapping[str, str]  # arch → the admin's content for that arch
    repository: str  # the push spec without its tag
    push_secret: str
    pull_secret: str | None
    # alongside-mco: the rendered config is no input. Publishing our image changes it, and
    # a change it caused must never start a build (no loop).
    config_in_identity: bool = True
    # Builder mode's OS content from the rendered config (upstream's template); None: the
    # plain form, where the MCD applies the rendered config on the node.
    os: OSContent | None = None
    builder_image: str = DEFAULT_BUILDER_IMAGE  # the Jobs' image (planning/builderimage.py)
    # How the build reaches registries (proxy, CAs): in its Jobs, never in its identity or
    # keys, so a change rebuilds nothing (planning/network.py says why).
    network: ClusterNetwork = NO_NETWORK
    # What the cluster gives the build (registries files, RPM repositories: jobinputs.py,
    # buildsecrets.py): how it pulls, not what it builds, so in no identity or key.
    cluster_files: ClusterFiles = field(default_factory=ClusterFiles)

    @property
    def homogeneous(self) -> bool:
        return len(self.architectures) == 1

    def _identity(self) -> dict[str, object]:
        identity: dict[str, object] = {
            "baseImage": self.base_image,
            "repository": self.repository,
        }
        if self.config_in_identity:
            identity["renderedConfig"] = self.rendered_config
        return identity

    def mosb_name(self) -> str:
        digest = hashing.digest(
            {
                **self._identity(),
                "architectures": frozenset(self.architectures),
                "containerfiles": dict(self.containerfiles),
            },
            NAME_HASH_LENGTH,
        )
        return f"{self.mosc}-{digest}"

    def _rebuild_inputs(self, arch: str) -> dict[str, object]:
        """What decides `arch`'s image; a change to anything else reuses it."""
        common: dict[str, object] = {
            "baseImage": self.base_image,
            "repository": self.repository,
            "arch": arch,
            "containerfile": self.containerfiles[arch],
        }
        if self.os is not None:
            return {**common, "os": self.os.rebuild_inputs(arch)}
        if self.config_in_identity:
            return {**common, "renderedConfig": self.rendered_config}
        return common

    def arch_key(self, arch: str) -> str:
        return hashing.digest(self._rebuild_inputs(arch))

    def tag(self, mosb: str, arch: str) -> str:
        """The tag an architecture's build pushes to: the MOSB tag itself for a
        homogeneous pool (a plain image, as upstream), else `<mosb>-<arch>`."""
        return mosb if self.homogeneous else f"{mosb}-{arch}"

    def rendered_containerfile(self, mosb: str, arch: str) -> str:
        """The Containerfile `arch`'s Job builds (planning/containerfile.py)."""
        content = self.containerfiles[arch]
        if self.os is None:
            return containerfile.plain(self.base_image, self.rendered_config, mosb, arch, content)
        return containerfile.builder(
            self.os, self.base_image, self.rendered_config, self.pool, mosb, arch, content
        )

    def context_files(self) -> dict[str, str]:
        """The build context's files, path → content (none in the plain form)."""
        return {} if self.os is None else self.os.context_files()


def build_inputs(
    mosc: MachineOSConfig,
    pool: MachineConfigPool | None,
    rendered: MachineConfig | None,
    pool_arches: ArchSummary | None,
    mode: Mode = Mode.BUILDER,
    release_base: str | None = None,
    network: ClusterNetwork = NO_NETWORK,
) -> BuildInputs | Refusal:
    """The inputs of the build this MOSC asks for now, or why there are none yet.

    `builder` builds on the rendered MachineConfig's osImageURL; `alongside-mco` on the
    release's base image (`release_base`, from the MCO's osimageurl ConfigMap): once we
    publish, the rendered osImageURL is our own image, and building on it would stack our
    layers again every round."""
    pool_name = mosc.spec.machine_config_pool.name
    if pool is None:
        return Refusal(EventReason.POOL_NOT_FOUND, f"MachineConfigPool {pool_name} does not exist")
    config = pool.rendered_config_name
    if not config:
        return Refusal(
            EventReason.NO_RENDERED_CONFIG,
            f"MachineConfigPool {pool_name} has no rendered configuration yet",
        )
    base = _base_image(config, rendered, mode, release_base)
    if isinstance(base, Refusal):
        return base
    if pool_arches is None:  # the pool is newer than the architecture record: wait for it
        return Refusal(
            EventReason.ARCHITECTURES_PENDING, f"pool {pool_name} not recorded yet", quiet=True
        )
    files = _containerfiles(mosc, pool_name, pool_arches)
    repository = _repository(mosc)
    if isinstance(files, Refusal):
        return files
    if isinstance(repository, Refusal):
        return repository
    pull = mosc.spec.base_image_pull_secret
    os: OSContent | None = None  # alongside-mco: the MCD applies the rendered config
    if mode is Mode.BUILDER and rendered is not None:
        content = os_content(
            rendered, base, pool_arches.architectures, network.additional_trust_bundle
        )
        if isinstance(content, Refusal):
            return content
        os = content
    return BuildInputs(
        mosc=mosc.name,
        pool=pool_name,
        rendered_config=config,
        base_image=base,
        architectures=pool_arches.architectures,
        containerfiles=files,
        repository=repository,
        push_secret=mosc.spec.rendered_image_push_secret.name,
        pull_secret=pull.name if pull else None,
        config_in_identity=mode is Mode.BUILDER,
        os=os,
        network=network,
    )


def release_base(configmap_data: Mapping[str, str] | None) -> str | None:
    """alongside-mco: the release's base OS image from the MCO's osimageurl ConfigMap."""
    value = (configmap_data or {}).get(BASE_OS_CONTAINER_IMAGE_KEY)
    return str(value) if value else None


def _base_image(
    config: str, rendered: MachineConfig | None, mode: Mode, release_base: str | None
) -> str | Refusal:
    if mode is Mode.ALONGSIDE_MCO:
        if release_base is None:
            return Refusal(
                EventReason.NO_BASE_IMAGE,
                "the release's base OS image is not known: no baseOSContainerImage in the "
                "MCO's osimageurl ConfigMap",
            )
        base, where = release_base, "the osimageurl ConfigMap's baseOSContainerImage"
    elif rendered is None:
        return Refusal(
            EventReason.RENDERED_CONFIG_NOT_FOUND, f"MachineConfig {config} does not exist"
        )
    else:
        base, where = rendered.spec.os_image_url or "", f"MachineConfig {config}'s osImageURL"
    if not base or _WHITESPACE.search(base):
        return Refusal(EventReason.INVALID_BASE_IMAGE, f"{where} is not a usable image ({base!r})")
    return base


def os_content(
    rendered: MachineConfig, base: str, architectures: tuple[str, ...], ca_bundle: str = ""
) -> OSContent | Refusal:
    """Builder mode's OS content of the rendered config, checked for these architectures."""
    spec = rendered.spec
    problem = containerfile.kernel_reason(spec.kernel_type)
    if problem is not None:
        return Refusal(
            EventReason.UNSUPPORTED_KERNEL_TYPE,
            f"MachineConfig {rendered.name}: {problem}; refused for every architecture "
            f"({', '.join(architectures)})",
        )
    os = OSContent(
        machine_config=rendered.to_k8s(),
        extensions_image=spec.base_os_extensions_container_image,
        extensions=spec.extensions,
        kernel_type=KernelType(spec.kernel_type or KernelType.DEFAULT),
        kernel_arguments=spec.kernel_arguments,
        ca_bundle=ca_bundle,
    )
    refused = containerfile.validate(os, base, architectures)
    if refused is not None:
        return Refusal(refused[0], f"MachineConfig {rendered.name}: {refused[1]}")
    return os


def _containerfiles(
    mosc: MachineOSConfig, pool_name: str, pool_arches: ArchSummary
) -> dict[str, str] | Refusal:
    """Each architecture's content: its own entry, else NoArch."""
    if not pool_arches.architectures:
        return Refusal(
            EventReason.NO_ARCHITECTURES,
            f"MachineConfigPool {pool_name} selects no node of a supported architecture",
        )
    files: dict[str, str] = {}
    for arch in pool_arches.architectures:
        content = mosc.spec.containerfile_for(arch)
        if content is None:
            return Refusal(
                EventReason.NO_CONTAINERFILE,
                f"no containerFile entry for {ContainerfileArch.from_kube_arch(arch).value} "
                f"and no NoArch entry, but pool {pool_name} has {arch} nodes",
            )
        files[arch] = content
    return files


def _repository(mosc: MachineOSConfig) -> str | Refusal:
    """The push spec's repository, checked to be publishable by digest."""
    spec = mosc.spec.rendered_image_push_spec
    repository = ImageReference.parse(spec).repository
    try:  # the schema allows fewer path levels in a digested spec than in a push spec
        validate_image_digest_format(f"{repository}@sha256:{'0' * 64}")
    except ValueError as exc:
        return Refusal(
            EventReason.UNPUBLISHABLE_PUSH_SPEC,
            f"renderedImagePushSpec {spec!r} cannot be published by digest: {exc}",
        )
    return repository


def short_name(base: str, suffix: str, limit: int = MAX_LABEL) -> str:
    """`<base>-<suffix>` within `limit` characters, deterministically shortened with a
    hash of the full name when too long (Job names become label values: 63 max)."""
    full = f"{base}-{suffix}"
    if len(full) <= limit:
        return full
    tag = hashlib.sha256(full.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(tag) - 2
    return f"{base[:keep].rstrip('-.')}-{tag}-{suffix}"
