"""TEST FIXTURES: the local base images with a real userland per architecture, and the
qemu-user emulation that runs their foreign-architecture RUN steps on this machine.

``hack/build-bases.sh`` builds, from Debian's busybox-static of each architecture, an OCI
layout of single-architecture images ``userland-<arch>`` and ``os-like-<arch>`` (the
latter with recording stand-ins for ignition-apply, rpm-ostree, ostree, update-ca-trust)
in ``~/.cache/mosb-controller/bases-<key>``. ``hack/binfmt.sh`` registers Debian's
qemu-user-static handlers. With both, a build for another architecture (``buildah bud
--arch s390x``, as build.sh does on a node of that architecture) runs its RUN steps here,
the emulator standing in for that node's native CPU. Nothing in ``mosb_controller/`` or
the Jobs knows about any of it.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from mosb_controller.arch import SUPPORTED_ARCHES

HACK = Path(__file__).resolve().parent
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
FLAVOURS = ("userland", "os-like")
# What `uname -m` reports on each architecture (qemu names its handlers the same way).
MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")
SETUP_HINT = (
    "run hack/setup.sh (it builds the base images with hack/build-bases.sh, installs "
    "qemu-user-static and registers its binfmt handlers with hack/binfmt.sh, as root)"
)


def script_cache(script: str) -> Path:
    """Where the image builder `script` (hack/build-*.sh) keeps, or would keep, its
    images (it prints it with --path); builds nothing."""
    out = subprocess.run(
        ["bash", str(HACK / script), "--path"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return Path(out.stdout.strip())


@functools.cache
def cache_dir() -> Path:
    """Where hack/build-bases.sh keeps (or would keep) the base images; builds nothing."""
    return script_cache("build-bases.sh")


def layout() -> Path | None:
    """The OCI layout of the built base images, None if hack/build-bases.sh has not run."""
    built = cache_dir()
    return built / "layout" if (built / "bases.json").is_file() else None


def host_arch() -> str:
    machine = platform.machine()
    return next((a for a, m in MACHINE.items() if m == machine), machine)


def emulated(arch: str) -> bool:
    """Does this machine run `arch` binaries: natively, or through a qemu-user binfmt
    handler with the F flag (qemu opened at registration, so it works in a chroot)?"""
    if arch == host_arch():
        return True
    handler = BINFMT / f"qemu-{MACHINE[arch]}"
    try:
        lines = handler.read_text().splitlines()
    except OSError:
        return False
    flags = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("flags:")), "")
    return bool(lines) and lines[0] == "enabled" and "F" in flags


def run_steps_missing(arches: Sequence[str] = ARCHES) -> list[str]:
    """What this machine lacks to run RUN steps for `arches`; empty when nothing."""
    missing = []
    if layout() is None:
        missing.append(f"the local base images ({cache_dir()})")
    missing += [f"qemu-user binfmt handler for {a}" for a in arches if not emulated(a)]
    return missing


def copy_into_storage(flavour: str, arch: str, root: Path, runroot: Path) -> str | None:
    """Copy base image `flavour` of `arch` into a buildah vfs storage; return its name
    there, or None if the base images are not built. (buildah 1.28 can't name a
    container after an `oci:` path under a dot-directory such as ~/.cache.)"""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown base flavour {flavour!r}; one of {FLAVOURS}")
    built = layout()
    if built is None:
        return None
    name = f"localhost/mosb-base:{flavour}-{arch}"
    subprocess.run(
        ["skopeo", "copy", "-q", f"oci:{built}:{flavour}-{arch}",
         f"containers-storage:[vfs@{root}+{runroot}]{name}"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return name
