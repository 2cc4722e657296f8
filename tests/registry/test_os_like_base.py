"""The OS-like local base (a test fixture for the OCL template's OS tools), built on by the
controller's own build Job for a native and a foreign architecture.

Its stand-ins for ignition-apply, rpm-ostree, ostree and update-ca-trust
(hack/fixtures/os-tools/record-call.sh) change nothing but their record in the image, so
what a build asked the OS to do can be read back from the pushed image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hack import bases, imagefiles, registry
from hack.jobcontract import (
    REPO,
    assert_ok,
    build_all,
    make_inputs,
    scenario,
)
from tests.support.polling import require

ARCHES = ("amd64", "s390x")
# The calls the upstream template makes (reference/openshift.md §2), as RUN steps.
CONTAINERFILE = (
    "FROM configs AS final\n"
    'RUN echo \'{"ignition": {"version": "3.4.0"}}\' > /tmp/config.ign'
    " && ignition-apply --ignore-unsupported /tmp/config.ign\n"
    'RUN rpm-ostree install "usbguard" kernel-rt && ostree container commit\n'
    "RUN update-ca-trust extract\n"
)
RECORDS = "/var/lib/mosb-fixtures"


def read_record(reg: registry.LocalRegistry, digest: str, name: str) -> str:
    content = imagefiles.read_file(reg, REPO, digest, f"{RECORDS}/{name}")
    assert content is not None, f"{name} not in {digest}"
    return content.decode()


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    require(registry.missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)
    with registry.LocalRegistry() as r:
        yield r


def test_os_tool_stand_ins_record_what_each_architecture_asked(
    reg: registry.LocalRegistry, tmp_path: Path
) -> None:
    base = registry.seed_base_image(reg, "ocp/os-like", ARCHES, flavour="os-like")
    sc = scenario(reg, make_inputs(reg, base, ARCHES, content=CONTAINERFILE))
    for arch, built in build_all(sc, tmp_path).items():
        digest = assert_ok(built.outcome)

        def record(name: str, digest: str = digest) -> str:
            return read_record(reg, digest, name)

        assert record("ignition-apply.log") == (
            "call:\narg: --ignore-unsupported\narg: /tmp/config.ign\n"
            'config:\n{"ignition": {"version": "3.4.0"}}\n\n'
        ), arch
        assert record("ignition-apply.config") == '{"ignition": {"version": "3.4.0"}}\n'
        assert record("rpm-ostree.log") == "call:\narg: install\narg: usbguard\narg: kernel-rt\n"
        assert record("ostree.log") == "call:\narg: container\narg: commit\n"
        assert record("update-ca-trust.log") == "call:\narg: extract\n"
        assert imagefiles.config(reg, REPO, digest)["architecture"] == arch
