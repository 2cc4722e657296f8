"""RHEL entitlements in RUN steps, as upstream mounts them (`buildah --volume`): a RUN step
reads a file under /etc/pki/entitlement and writes its digest into the image; the file
itself is in no layer of the image and in no log. Likewise the cluster's repositories
(/etc/yum.repos.d) and their keys (/etc/pki/rpm-gpg), from the inputs ConfigMap."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hack import bases, imagefiles, registry
from hack.jobcontract import REPO, UID, assert_ok, make_inputs, scenario
from mosb_controller.planning import objects as jobs
from mosb_controller.planning.clusterfiles import ClusterFiles
from tests.support.polling import require

ARCH = "amd64"
ENTITLEMENT = "mosb-entitlement-copy"  # the build's copy (planning/buildsecrets.py)
CONTAINERFILE = (
    "FROM configs AS final\n"
    "RUN sha256sum /etc/pki/entitlement/entitlement.pem | cut -d' ' -f1 > /etc/entitlement-digest\n"
)


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    require(registry.missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, registry)")
    require(bases.run_steps_missing((ARCH,)), bases.SETUP_HINT)
    with registry.LocalRegistry() as r:
        yield r


def test_a_run_step_reads_the_entitlement_which_stays_out_of_image_and_logs(
    reg: registry.LocalRegistry, tmp_path: Path
) -> None:
    pem = f"-----BEGIN ENTITLEMENT-----\n{secrets.token_hex(32)}\n".encode()
    base = registry.seed_base_image(reg, "ocp/rhcos", (ARCH,))
    sc = scenario(reg, make_inputs(reg, base, (ARCH,), content=CONTAINERFILE))
    sc = replace(sc, secrets={ENTITLEMENT: {"entitlement.pem": pem, "entitlement-key.pem": pem}})
    job = jobs.build_job(sc.inputs, sc.mosb, UID, ARCH, sc.settings, ENTITLEMENT)
    outcome = sc.run(job, tmp_path / "build")
    digest = assert_ok(outcome)

    written = imagefiles.read_file(reg, REPO, digest, "/etc/entitlement-digest")
    assert written == f"{hashlib.sha256(pem).hexdigest()}\n".encode()
    for name in ("entitlement.pem", "entitlement-key.pem"):
        assert imagefiles.read_file(reg, REPO, digest, f"/etc/pki/entitlement/{name}") in (
            None,
            b"",
        )
    token = pem.decode().splitlines()[1]
    assert outcome.log_path is not None
    assert token not in outcome.log_path.read_text(errors="replace")
    assert token not in outcome.termination_message


REPOS_CONTAINERFILE = (
    "FROM configs AS final\n"
    "RUN cat /etc/yum.repos.d/rhel.repo /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat | sha256sum "
    "| cut -d' ' -f1 > /etc/repos-digest\n"
)


def test_a_run_step_sees_the_clusters_repositories_and_keys_which_stay_out_of_the_image(
    reg: registry.LocalRegistry, tmp_path: Path
) -> None:
    repo = f"[rhel]\nname=rhel {secrets.token_hex(8)}\nbaseurl=https://cdn.example.com/\n"
    key = f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n{secrets.token_hex(16)}\n"
    base = registry.seed_base_image(reg, "ocp/rhcos", (ARCH,))
    inputs = make_inputs(reg, base, (ARCH,), content=REPOS_CONTAINERFILE)
    files = ClusterFiles(yum_repos={"rhel.repo": repo}, rpm_gpg={"RPM-GPG-KEY-redhat": key})
    sc = scenario(reg, replace(inputs, cluster_files=files))
    digest = assert_ok(sc.run(sc.build_job(ARCH), tmp_path / "build"))

    written = imagefiles.read_file(reg, REPO, digest, "/etc/repos-digest")
    assert written == f"{hashlib.sha256((repo + key).encode()).hexdigest()}\n".encode()
    for path in ("/etc/yum.repos.d/rhel.repo", "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat"):
        assert imagefiles.read_file(reg, REPO, digest, path) in (None, b"")
