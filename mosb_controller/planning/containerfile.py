"""The Containerfile each architecture's build Job runs, in its two forms. Pure.

- The plain form: the base image as stage `configs`, the admin's content, our two labels.
  It is what the image needs when the MCD still applies the rendered MachineConfig on the
  node (the alongside-MCO mode, #14).
- The builder form follows upstream's on-cluster-build template: in layered mode the MCD
  writes files and units but skips extensions and the kernel type, so the image itself
  must carry them. Stages `extract` (the rendered MachineConfig, delivered gzip+base64 as
  upstream) and `configs` (Ignition applied, extensions installed from this
  architecture's variant of the release's extensions image, the kernel swapped, the
  cluster CA bundle trusted), upstream's three labels, then the admin's entry, last.

Nothing an admin or the rendered config controls is spliced into a shell command: the
rendered config, its Ignition part and the extension names are files of the build context
(the inputs ConfigMap, mounted by the Job) that fixed RUN steps read. The few values that
appear in the text itself (image references, names in labels) are checked by `validate`
to hold no character that could end a Containerfile word or a mount option.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass
from typing import Any

from api.enums import ARCHES_64K_PAGES, EventReason, KernelType
from api.names import (
    IMAGE_BASE_OS_LABEL,
    IMAGE_MACHINE_CONFIG_LABEL,
    IMAGE_MACHINE_CONFIG_POOL_LABEL,
    MACHINE_OS_BUILD_LABEL,
    RENDERED_MACHINE_CONFIG_LABEL,
)

# Build-context paths (relative to the context directory the Job mounts).
MACHINE_CONFIG_FILE = "machineconfig/machineconfig.json.gz"
IGNITION_FILE = "machineconfig/ignition.json"
EXTENSIONS_FILE = "machineconfig/extensions"
CA_BUNDLE_FILE = "openshift-config-user-ca-bundle.crt"

CURRENT_CONFIG = "/etc/machine-config-daemon/currentconfig"
EXTENSIONS_MOUNT = "/tmp/mco-extensions/os-extensions-content"
EXTENSIONS_REPO = "/etc/yum.repos.d/coreos-extensions.repo"
IGNITION_BINARY = "/usr/lib/dracut/modules.d/30ignition/ignition"
ADMIN_MARKER = "# --- the MachineOSConfig's containerFile for"

# The packages each kernel type swaps in (upstream's MCD lists, from the extensions repo).
_STOCK_KERNEL = ("kernel", "kernel-core", "kernel-modules", "kernel-modules-core",
                 "kernel-modules-extra")  # fmt: skip
_KERNEL_PACKAGES = {
    KernelType.REALTIME: (
        "kernel-rt-core",
        "kernel-rt-modules",
        "kernel-rt-modules-core",
        "kernel-rt-modules-extra",
    ),
    KernelType.PAGES_64K: (
        "kernel-64k-core",
        "kernel-64k-modules",
        "kernel-64k-modules-core",
        "kernel-64k-modules-extra",
    ),
}
# An RPM name: what `rpm-ostree install` takes; nothing a shell or xargs would interpret.
_EXTENSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
# An image reference in a FROM line or a `--mount=...,from=` option: no space, comma,
# quote, `=` or `$` (a comma or `=` would add mount options, a quote end a label).
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


@dataclass(frozen=True)
class OSContent:
    """What builder mode bakes into every architecture's image from the rendered config."""

    machine_config: dict[str, Any]  # the rendered MachineConfig, as the image keeps it
    extensions_image: str  # the release's baseOSExtensionsContainerImage (multi-arch)
    extensions: tuple[str, ...]
    kernel_type: KernelType
    kernel_arguments: tuple[str, ...]
    ca_bundle: str = ""  # the cluster's user CA bundle (empty: none configured)

    def kernel_for(self, arch: str) -> KernelType:
        """The kernel `arch` boots: 64k-pages exists for arm64 only, so on a mixed pool
        the other architectures keep the default kernel (upstream's MCD also refuses it
        there); `validate` refuses a 64k-pages pool that has no arm64 at all."""
        if self.kernel_type is KernelType.PAGES_64K and arch not in ARCHES_64K_PAGES:
            return KernelType.DEFAULT
        return self.kernel_type

    def rebuild_inputs(self, arch: str) -> dict[str, object]:
        """Upstream's rebuild rule, per architecture: a new rendered config rebuilds only
        when one of these changed (the files and units it carries do not: the MCD writes
        them on the node). The extensions image is one multi-arch reference; the build
        takes its variant for `arch`."""
        return {
            "extensionsImage": self.extensions_image,
            "extensions": list(self.extensions),  # order is rpm-ostree's install order
            "kernelType": self.kernel_for(arch).value,
            "kernelArguments": list(self.kernel_arguments),
        }

    def context_files(self) -> dict[str, str]:
        """The build-context files, path → content (objects.py maps them to ConfigMap keys)."""
        raw = json.dumps(self.machine_config, sort_keys=True, separators=(",", ":"))
        packed = base64.b64encode(gzip.compress(raw.encode(), mtime=0)).decode()
        ignition = self.machine_config.get("spec", {}).get("config", {})
        return {
            MACHINE_CONFIG_FILE: packed,
            IGNITION_FILE: json.dumps(ignition, sort_keys=True),
            EXTENSIONS_FILE: "".join(f"{e}\n" for e in self.extensions),
            CA_BUNDLE_FILE: self.ca_bundle,
        }


def validate(
    os: OSContent, base_image: str, architectures: tuple[str, ...]
) -> tuple[EventReason, str] | None:
    """Why this rendered config cannot be built for these architectures, if it cannot."""
    if os.kernel_type is KernelType.PAGES_64K and not set(architectures) & ARCHES_64K_PAGES:
        return (
            EventReason.UNSUPPORTED_KERNEL_TYPE,
            f"kernelType 64k-pages exists only on arm64, and the pool's architectures are "
            f"{', '.join(architectures)}: none of them can boot it",
        )
    bad = [e for e in os.extensions if not _EXTENSION.match(e)]
    if bad:
        return (
            EventReason.INVALID_EXTENSION,
            f"extensions {bad!r} are not package names (letters, digits, . _ + - only); "
            f"refused for every architecture ({', '.join(architectures)})",
        )
    wanting = [
        a for a in architectures if os.extensions or os.kernel_for(a) is not KernelType.DEFAULT
    ]
    if wanting and not os.extensions_image:
        return (
            EventReason.NO_EXTENSIONS_IMAGE,
            f"{', '.join(wanting)}: extensions {list(os.extensions)} and kernelType "
            f"{os.kernel_type.value} need packages from the release's extensions image, "
            "and the rendered config has no baseOSExtensionsContainerImage",
        )
    for what, ref in (("osImageURL", base_image), ("baseOSExtensionsContainerImage",
                                                    os.extensions_image)):  # fmt: skip
        if ref and not _IMAGE.match(ref):
            return EventReason.INVALID_BASE_IMAGE, f"{what} {ref!r} is not an image reference"
    return None


def kernel_reason(kernel_type: str) -> str | None:
    """Why a MachineConfig's `kernelType` is refused, if it is (empty: default)."""
    if kernel_type in {"", *(k.value for k in KernelType)}:
        return None
    allowed = ", ".join(k.value for k in KernelType)
    return f"kernelType {kernel_type!r} is not one of {allowed}"


def plain(base_image: str, rendered_config: str, mosb: str, arch: str, content: str) -> str:
    """Today's form: the base as stage `configs`, the admin's content, our labels."""
    return (
        f"# Rendered by mosb-controller for MachineOSBuild {mosb} ({arch}).\n"
        f"FROM {base_image} AS configs\n"
        f"{content.rstrip()}\n"
        f'LABEL {RENDERED_MACHINE_CONFIG_LABEL}="{rendered_config}"'
        f' {MACHINE_OS_BUILD_LABEL}="{mosb}"\n'
    )


def builder(
    os: OSContent, base_image: str, rendered_config: str, pool: str, mosb: str, arch: str,
    content: str,
) -> str:  # fmt: skip
    """Upstream's template for one architecture (see the module's docstring)."""
    return "".join(
        (
            f"# Rendered by mosb-controller for MachineOSBuild {mosb} ({arch}), builder mode.\n",
            _extract(base_image),
            _configs(base_image),
            _os_packages(os, arch),
            _ca_bundle(),
            f'LABEL {IMAGE_MACHINE_CONFIG_LABEL}="{rendered_config}"\n',
            f'LABEL {IMAGE_MACHINE_CONFIG_POOL_LABEL}="{pool}"\n',
            f'LABEL {IMAGE_BASE_OS_LABEL}="{base_image}"\n',
            f"\n{ADMIN_MARKER} {arch} ---\n",
            f"{content.rstrip()}\n",
        )
    )


def _extract(base: str) -> str:
    # A stage of its own so the packed config never stays in the image (as upstream).
    return (
        f"FROM {base} AS extract\n"
        f"COPY ./{MACHINE_CONFIG_FILE} /tmp/mosb/machineconfig.json.gz\n"
        f"COPY ./{IGNITION_FILE} /tmp/mosb/ignition.json\n"
        f"COPY ./{EXTENSIONS_FILE} /tmp/mosb/extensions\n"
        f"RUN mkdir -p /etc/machine-config-daemon && \\\n"
        f"    base64 -d /tmp/mosb/machineconfig.json.gz | gunzip > {CURRENT_CONFIG}\n\n"
    )


def _configs(base: str) -> str:
    # ignition-apply: the multicall Ignition binary dispatches on its name; a symlink
    # gives it that name in any POSIX shell (upstream uses bash's `exec -a`). The
    # Ignition config is bind-mounted from `extract`, so it leaves no layer behind.
    return (
        f"FROM {base} AS configs\n"
        "ARG HTTP_PROXY\nARG HTTPS_PROXY\nARG NO_PROXY\n"
        f"COPY --from=extract {CURRENT_CONFIG} {CURRENT_CONFIG}\n"
        "RUN --mount=type=bind,from=extract,source=/tmp/mosb,target=/tmp/mosb \\\n"
        "    apply=$(command -v ignition-apply || true) && \\\n"
        '    if [ -z "$apply" ]; then apply=/tmp/ignition-apply && '
        f'ln -s {IGNITION_BINARY} "$apply"; fi && \\\n'
        '    container=oci "$apply" --ignore-unsupported /tmp/mosb/ignition.json && \\\n'
        "    rm -f /tmp/ignition-apply && \\\n"
        "    ostree container commit\n"
    )


def _os_packages(os: OSContent, arch: str) -> str:
    """Extensions and the kernel swap, from the extensions image's variant for this
    architecture (the build runs with --arch, so `from=` resolves to that variant)."""
    kernel = os.kernel_for(arch)
    if not os.extensions and kernel is KernelType.DEFAULT:
        return ""
    steps = []
    if os.extensions:
        steps.append("xargs rpm-ostree install < /tmp/mosb/extensions")
    if kernel is not KernelType.DEFAULT:
        swap = " ".join(f"--install {p}" for p in _KERNEL_PACKAGES[kernel])
        steps.append(f"rpm-ostree override remove {' '.join(_STOCK_KERNEL)} {swap}")
    repo = "\\n".join(
        ("[coreos-extensions]", "enabled=1", "metadata_expire=1m",
         f"baseurl={EXTENSIONS_MOUNT}/usr/share/rpm-ostree/extensions/", "gpgcheck=0",
         "skip_if_unavailable=False")
    )  # fmt: skip
    write_repo = f"mkdir -p /etc/yum.repos.d && printf '{repo}\\n' > {EXTENSIONS_REPO}"
    body = " && \\\n    ".join(
        (write_repo, *steps, f"rm {EXTENSIONS_REPO}", "ostree container commit")
    )
    return (
        f"RUN --mount=type=bind,from={os.extensions_image},source=/,target={EXTENSIONS_MOUNT} \\\n"
        "    --mount=type=bind,from=extract,source=/tmp/mosb,target=/tmp/mosb \\\n"
        f"    {body}\n"
    )


def _ca_bundle() -> str:
    return (
        f"COPY ./{CA_BUNDLE_FILE} /etc/pki/ca-trust/source/anchors/{CA_BUNDLE_FILE}\n"
        "RUN update-ca-trust\n"
    )
