"""TEST FIXTURES: the real node's images (hack/build-node-images.sh builds them from Debian
packages into an OCI layout under ~/.cache/mosb-controller) and their copies in a local
registry, where containerd pulls them as from any registry."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from hack import bases
from hack.registry import LocalRegistry

IMAGES = ("builder-amd64", "builder-nobuildah-amd64", "pause-amd64")
SETUP_HINT = "run hack/setup.sh (it builds them with hack/build-node-images.sh)"


@functools.cache
def cache_dir() -> Path:
    """Where hack/build-node-images.sh keeps (or would keep) them; builds nothing."""
    return bases.script_cache("build-node-images.sh")


def layout() -> Path | None:
    """The OCI layout of the built images, None if hack/build-node-images.sh has not run."""
    built = cache_dir()
    return built / "layout" if (built / "images.json").is_file() else None


def reference(registry: LocalRegistry, image: str) -> str:
    """Where `image` (e.g. builder-amd64) is in `registry`: <host>/mosb/builder:amd64."""
    name, _, arch = image.rpartition("-")
    return f"{registry.host}/mosb/{name}:{arch}"


def push_all(registry: LocalRegistry) -> dict[str, str]:
    """Copy every node image into `registry`; image name → its reference there."""
    built = layout()
    if built is None:
        raise RuntimeError(f"the node images are not built ({cache_dir()}): {SETUP_HINT}")
    refs = {}
    for image in IMAGES:
        ref = reference(registry, image)
        creds = f"{registry.username}:{registry.password}"
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-creds", creds, "--dest-cert-dir",
             str(registry.ca_dir), f"oci:{built}:{image}", f"docker://{ref}"],
            capture_output=True, check=True, timeout=300,
        )  # fmt: skip
        refs[image] = ref
    return refs
