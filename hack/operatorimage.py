"""TEST FIXTURE: the operator's image, built here from the project's own Containerfile.

Its two bases (build args PYTHON_IMAGE and RUNTIME_IMAGE, upstream's UBI images by
default) both point at `operator-base-amd64` of hack/build-node-images.sh: Debian's
python3.11 and skopeo with a microdnf stand-in. The build runs buildah on this machine
(amd64 only) in a private vfs storage, and its result is cached as an OCI layout under
~/.cache/mosb-controller/operator-image-<key>, the key a hash of everything the
Containerfile copies: a second build of the same sources builds nothing.

    python -m hack.operatorimage     # build (or find) it; prints the layout
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hack import kube_paths, nodeimages
from hack.registry import Buildah, LocalRegistry

ROOT = kube_paths.ROOT
# What the Containerfile COPYs, and itself.
SOURCES = ("Containerfile", "pyproject.toml", "README.md", "api", "mosb_controller")
BASE = "localhost/mosb-operator-base:amd64"
TAG = "operator-amd64"


def source_key() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return kube_paths.cache_root() / f"operator-image-{source_key()}"


def build() -> Path:
    """The OCI layout holding TAG, built if not cached yet."""
    out = cache_dir()
    if (out / "layout" / "index.json").is_file():
        return out / "layout"
    bases = nodeimages.layout()
    if bases is None:
        raise RuntimeError(f"the node images are not built: {nodeimages.SETUP_HINT}")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mosb-operator-image-"))
    buildah = Buildah(work / "storage")
    try:
        _build_in(buildah, bases, work / "layout")
        staged = Path(tempfile.mkdtemp(prefix="layout.", dir=out))
        shutil.move(work / "layout", staged / "layout")
        # Publish whole or not at all (one rename); a parallel build's result is as good.
        try:
            (staged / "layout").rename(out / "layout")
        except OSError:
            if not (out / "layout" / "index.json").is_file():
                raise
        shutil.rmtree(staged, ignore_errors=True)
    finally:
        subprocess.run(buildah.argv("rm", "--all"), capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return out / "layout"


def _build_in(buildah: Buildah, bases: Path, layout: Path) -> None:
    root, runroot = buildah.root_dir / "root", buildah.root_dir / "runroot"
    subprocess.run(
        ["skopeo", "copy", "-q", f"oci:{bases}:operator-base-amd64",
         f"containers-storage:[vfs@{root}+{runroot}]{BASE}"],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    buildah(
        "bud", "--pull-never", "--layers=false", "--isolation", "chroot",
        "--build-arg", f"PYTHON_IMAGE={BASE}", "--build-arg", f"RUNTIME_IMAGE={BASE}",
        "-t", "localhost/mosb-controller:local", "-f", str(ROOT / "Containerfile"), str(ROOT),
    )  # fmt: skip
    buildah("push", "-q", "localhost/mosb-controller:local", f"oci:{layout}:{TAG}")


def push(registry: LocalRegistry) -> str:
    """Build (or find) the image and copy it into `registry`; its reference there."""
    layout = build()
    ref = f"{registry.host}/mosb/mosb-controller:amd64"
    subprocess.run(
        ["skopeo", "copy", "-q", "--dest-creds", f"{registry.username}:{registry.password}",
         "--dest-cert-dir", str(registry.ca_dir), f"oci:{layout}:{TAG}", f"docker://{ref}"],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    return ref


if __name__ == "__main__":
    print(build())
    sys.exit(0)
