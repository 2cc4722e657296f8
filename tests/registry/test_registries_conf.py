"""The cluster's registries.conf and policy.json in the build and push Jobs, run for real
(hack/jobcontract.py: the controller's own Jobs and inputs ConfigMap, through
hack/podrunner.py, real buildah and skopeo, the local registry).

The base is named as a release names it, by digest under a registry that cannot be
reached (tests/support/mirrors.py); the local registry mirrors it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hack import imagefiles, registry
from hack.jobcontract import BASE_REPO, REPO, UID, Scenario, assert_ok, make_inputs, scenario
from mosb_controller.planning import objects as jobs
from mosb_controller.planning.clusterfiles import ClusterFiles
from tests.support import mirrors
from tests.support.polling import require

pytestmark = [pytest.mark.registry]
ARCH = "amd64"


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    require(registry.missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, registry)")
    require(mirrors.resolvable(), "a resolver that answers NXDOMAIN for .invalid names")
    with registry.LocalRegistry() as r:
        yield r


@pytest.fixture(scope="module")
def base(reg: registry.LocalRegistry) -> str:
    seeded = registry.seed_base_image(reg, BASE_REPO, (ARCH,), flavour="scratch")
    return mirrors.mirrored_base(reg, seeded)


def _scenario(reg: registry.LocalRegistry, base: str, files: ClusterFiles) -> Scenario:
    inputs = replace(make_inputs(reg, base, (ARCH,)), cluster_files=files)
    return scenario(reg, inputs)


def _build(sc: Scenario, tmp: Path) -> tuple[int, str]:
    outcome = sc.run(jobs.build_job(sc.inputs, sc.mosb, UID, ARCH, sc.settings), tmp)
    return outcome.exit_code, outcome.termination_message


def test_the_build_pulls_the_base_through_the_clusters_mirror(
    reg: registry.LocalRegistry, base: str, tmp_path: Path
) -> None:
    mirror = ClusterFiles(registries_conf=mirrors.registries_conf(f"{reg.host}/{BASE_REPO}"))
    sc = _scenario(reg, base, mirror)
    digest = assert_ok(sc.run(sc.build_job(ARCH), tmp_path / "build"))
    # the seeded base's file, which the Containerfile copies from it
    copied = imagefiles.read_file(reg, REPO, digest, "/usr/share/mosb/base-release")
    assert copied is not None and f"arch={ARCH}" in copied.decode()


def test_without_the_mirror_the_build_names_the_unreachable_registry(
    reg: registry.LocalRegistry, base: str, tmp_path: Path
) -> None:
    code, message = _build(_scenario(reg, base, ClusterFiles()), tmp_path)
    assert code != 0
    first = message.splitlines()[0]
    assert first == f"error: build for linux/{ARCH} failed: cannot reach registry quay.invalid"


def test_a_policy_rejecting_the_registry_fails_the_build_naming_the_policy(
    reg: registry.LocalRegistry, base: str, tmp_path: Path
) -> None:
    files = ClusterFiles(
        registries_conf=mirrors.registries_conf(f"{reg.host}/{BASE_REPO}"),
        policy_json=mirrors.rejecting_policy(),
    )
    code, message = _build(_scenario(reg, base, files), tmp_path)
    assert code != 0
    assert message.splitlines()[0] == (
        f"error: build for linux/{ARCH} failed: the cluster's policy.json (the signature "
        "policy) rejects the image from registry quay.invalid"
    )


def test_the_push_job_honours_registries_conf(
    reg: registry.LocalRegistry, base: str, tmp_path: Path
) -> None:
    """A registries.conf that blocks the target registry stops the push Job's reads."""
    mirror = mirrors.registries_conf(f"{reg.host}/{BASE_REPO}")
    sc = _scenario(reg, base, ClusterFiles(registries_conf=mirror))
    digest = assert_ok(sc.run(sc.build_job(ARCH), tmp_path / "build"))
    images = {ARCH: f"{sc.inputs.repository}@{digest}"}
    blocked = mirror + f'\n[[registry]]\n  location = "{reg.host}/{REPO}"\n  blocked = true\n'
    sc = replace(sc, inputs=replace(sc.inputs, cluster_files=ClusterFiles(registries_conf=blocked)))
    outcome = sc.run(sc.push_job(images), tmp_path / "push")
    assert outcome.exit_code != 0
    assert "blocked" in outcome.termination_message, outcome.termination_message
    assert_ok(
        replace(sc, inputs=replace(sc.inputs, cluster_files=ClusterFiles())).run(
            sc.push_job(images), tmp_path / "push-unblocked"
        )
    )
