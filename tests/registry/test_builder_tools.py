"""The build and push scripts run with only what upstream's builder image ships.

On OpenShift the default builder is the MCO's own image from the release payload, as
upstream's (multi-architecture, already mirrored in disconnected clusters). Its
definition (machine-config-operator `Dockerfile.rhel7`: a RHEL 9 base, `dnf install
buildah fuse-overlayfs cpp` and util-linux, `useradd build`) ships bash, coreutils, grep,
sed, util-linux and buildah, and no skopeo. Here the rendered Jobs run with a PATH holding
exactly those commands, so a script that reached for anything else (skopeo, jq, python)
fails here first.

Also the push script's checks that only a buildah-only implementation must get right: a
manifest list offered as one architecture's image, and an image of the other format.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hack import podrunner, registry
from hack.jobcontract import (
    BASE_REPO,
    REPO,
    assert_ok,
    build_all,
    digested,
    make_inputs,
    scenario,
)
from tests.support.polling import require

pytestmark = [pytest.mark.registry]

# What the MCO image's packages put on PATH, as far as the scripts could use it: bash,
# coreutils, grep, sed (its RHEL base), util-linux and buildah (installed by its Dockerfile).
MCO_IMAGE_PACKAGES = ("coreutils", "grep", "sed", "util-linux")
MCO_IMAGE_COMMANDS = ("bash", "buildah")


@pytest.fixture(scope="module")
def base_image(reg: registry.LocalRegistry) -> str:
    return registry.seed_base_image(reg, BASE_REPO, ("amd64", "arm64"))


def _package_commands(package: str) -> list[Path]:
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True)
    paths = [Path(p) for p in listed.stdout.splitlines()]
    return [p for p in paths if p.parent.name in ("bin", "sbin") and p.is_file()]


@pytest.fixture(scope="module")
def mco_image_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH of one directory holding only the MCO image's commands."""
    require([t for t in ("dpkg",) if shutil.which(t) is None], "Debian's package lists")
    bin_dir = tmp_path_factory.mktemp("mco-image-bin")
    commands = [p for pkg in MCO_IMAGE_PACKAGES for p in _package_commands(pkg)]
    commands += [Path(str(shutil.which(c))) for c in MCO_IMAGE_COMMANDS]
    for command in commands:
        link = bin_dir / command.name
        if not link.exists():
            link.symlink_to(command)
    path = str(bin_dir)
    assert shutil.which("skopeo", path=path) is None  # what the image lacks is really absent
    assert shutil.which("buildah", path=path) is not None
    return path


def test_build_and_push_need_only_what_the_mco_image_ships(
    reg: registry.LocalRegistry, base_image: str, mco_image_path: str, tmp_path: Path
) -> None:
    sc = scenario(reg, make_inputs(reg, base_image, ("amd64", "arm64")))
    only = {"PATH": mco_image_path}
    images = {}
    for arch in ("amd64", "arm64"):
        digest = assert_ok(sc.run(sc.build_job(arch), tmp_path / arch, only))
        images[arch] = f"{sc.inputs.repository}@{digest}"
    assert_ok(sc.run(sc.push_job(images), tmp_path / "push", only))
    index = json.loads(reg.inspect_raw(f"{reg.host}/{REPO}:{sc.mosb}"))
    entries = {(m["platform"]["architecture"], m["digest"]) for m in index["manifests"]}
    assert entries == {(arch, ref.split("@")[1]) for arch, ref in images.items()}


def _failed_first_line(outcome: podrunner.PodOutcome) -> str:
    assert outcome.exit_code != 0, outcome.log_tail
    assert outcome.termination_message.startswith("error: "), outcome.termination_message
    return outcome.termination_message.splitlines()[0]


def test_push_refuses_a_list_as_one_architectures_image(
    reg: registry.LocalRegistry, base_image: str, mco_image_path: str, tmp_path: Path
) -> None:
    sc = scenario(reg, make_inputs(reg, base_image, ("amd64", "arm64")))
    amd64 = digested(sc, build_all(sc, tmp_path, ["amd64"]))["amd64"]
    # a list in the target repository
    registry.seed_base_image(reg, REPO, ("amd64", "arm64"), tag="a-list", flavour="scratch")
    found = reg.manifest(REPO, "a-list")
    assert found is not None
    listed = f"{reg.host}/{REPO}@{found[1]}"

    push = sc.push_job({"amd64": amd64, "arm64": listed})
    first = _failed_first_line(sc.run(push, tmp_path / "push", {"PATH": mco_image_path}))
    assert f"image for arm64 is a manifest list, not a single image: {listed}" in first
    assert "amd64" not in first.split(";")[0].replace(listed, "")
    assert reg.manifest(REPO, sc.mosb) is None


def test_push_refuses_images_of_the_other_format(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    oci = scenario(reg, make_inputs(reg, base_image, ("amd64", "arm64")))
    images = digested(oci, build_all(oci, tmp_path, ["amd64"]))
    docker = scenario(
        reg, make_inputs(reg, base_image, ("amd64", "arm64")), mosb=oci.mosb, image_format="docker"
    )
    first = _failed_first_line(docker.run(docker.push_job(images), tmp_path / "push"))
    assert f"image for amd64 is not of format docker (found oci): {images['amd64']}" in first
    assert reg.manifest(REPO, oci.mosb) is None
