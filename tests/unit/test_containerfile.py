"""Builder mode's rendered Containerfile per architecture (upstream's on-cluster-build
template), its build-context files, and the refusals that name the architectures."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from api import EventReason
from mosb_controller.planning import containerfile
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.inputs import BuildInputs, Refusal, build_inputs
from mosb_controller.settings import Settings
from tests.support.factories import (
    ARCHES,
    EXTENSIONS_IMAGE,
    RENDERED,
    mosc,
    pool_on,
    rendered_os,
    summary,
)

BASE = RENDERED.spec.os_image_url
ADMIN = {"NoArch": "FROM configs\nRUN echo noarch-admin-text", "ARM64": "RUN echo arm-admin-text"}


def inputs_for(arches: tuple[str, ...] = ARCHES, **os: object) -> BuildInputs | Refusal:
    rendered = rendered_os(**os)  # type: ignore[arg-type]
    return build_inputs(
        mosc(list(ADMIN.items())), pool_on(rendered.name), rendered, summary(arches)
    )


def built(arches: tuple[str, ...] = ARCHES, **os: object) -> BuildInputs:
    inputs = inputs_for(arches, **os)
    assert isinstance(inputs, BuildInputs), inputs
    return inputs


def split(text: str, arch: str) -> tuple[str, str]:
    """(the controller's part, the admin's section) of a rendered Containerfile."""
    ours, marker, admin = text.partition(f"{containerfile.ADMIN_MARKER} {arch} ---\n")
    assert marker, text
    return ours, admin


@pytest.mark.parametrize("arch", ARCHES)
def test_each_architecture_follows_upstreams_template(arch: str) -> None:
    inputs = built(extensions=("usbguard", "kerberos"), kernel_type="realtime")
    ours, admin = split(inputs.rendered_containerfile("worker-abc", arch), arch)
    stages = [line for line in ours.splitlines() if line.startswith("FROM ")]
    assert stages == [f"FROM {BASE} AS extract", f"FROM {BASE} AS configs"]
    order = [
        "COPY ./machineconfig/machineconfig.json.gz",
        "base64 -d /tmp/mosb/machineconfig.json.gz | gunzip > "
        "/etc/machine-config-daemon/currentconfig",
        "ARG HTTP_PROXY\nARG HTTPS_PROXY\nARG NO_PROXY\n",
        "COPY --from=extract /etc/machine-config-daemon/currentconfig "
        "/etc/machine-config-daemon/currentconfig",
        "--ignore-unsupported /tmp/mosb/ignition.json && \\\n    rm -f /tmp/ignition-apply && "
        "\\\n    ostree container commit",
        f"--mount=type=bind,from={EXTENSIONS_IMAGE},source=/,"
        "target=/tmp/mco-extensions/os-extensions-content",
        "xargs rpm-ostree install < /tmp/mosb/extensions",
        "rpm-ostree override remove kernel kernel-core kernel-modules kernel-modules-core "
        "kernel-modules-extra --install kernel-rt-core",
        "rm /etc/yum.repos.d/coreos-extensions.repo && \\\n    ostree container commit",
        "COPY ./openshift-config-user-ca-bundle.crt /etc/pki/ca-trust/source/anchors/",
        "RUN update-ca-trust",
        'LABEL machineconfig="rendered-worker-1"\n',
        'LABEL machineconfigpool="worker"\n',
        f'LABEL baseOSContainerImage="{BASE}"\n',
    ]
    where = [ours.index(step) for step in order]
    assert where == sorted(where)
    assert "mosb-controller" not in ours.split("\n", 1)[1]  # upstream's labels, not ours
    expected_admin = ADMIN["ARM64" if arch == "arm64" else "NoArch"]
    assert admin == f"{expected_admin}\n"


def test_the_context_files_carry_exactly_the_rendered_config() -> None:
    rendered = rendered_os(files={"/etc/chrony.conf": "pool x"}, extensions=("usbguard",))
    inputs = built(files={"/etc/chrony.conf": "pool x"}, extensions=("usbguard",))
    files = inputs.context_files()
    packed = files[containerfile.MACHINE_CONFIG_FILE]
    assert json.loads(gzip.decompress(base64.b64decode(packed))) == rendered.to_k8s()
    assert json.loads(files[containerfile.IGNITION_FILE]) == rendered.spec.config
    assert files[containerfile.EXTENSIONS_FILE] == "usbguard\n"
    assert files[containerfile.CA_BUNDLE_FILE] == ""


def test_the_job_builds_in_the_context_the_configmap_carries() -> None:
    inputs = built(extensions=("usbguard",))
    settings = Settings(namespace="mosb")
    cm = jobspec.inputs_configmap(inputs, "worker-abc", "uid", ["arm64"], settings)
    job = jobspec.build_job(inputs, "worker-abc", "uid", "arm64", settings)
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["MOSB_CONTEXT_DIR"] == f"{jobspec.INPUTS_MOUNT}/context"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "inputs"]
    mounted = {i["path"]: cm["data"][i["key"]] for i in volume["configMap"]["items"]}
    assert mounted == {
        "Containerfile": inputs.rendered_containerfile("worker-abc", "arm64"),
        **{f"context/{p}": c for p, c in inputs.context_files().items()},
    }


def test_64k_pages_swaps_the_kernel_on_arm64_only() -> None:
    default = built(("amd64", "arm64", "s390x"))
    pages = built(("amd64", "arm64", "s390x"), kernel_type="64k-pages")
    for arch in ("amd64", "arm64", "s390x"):
        text = pages.rendered_containerfile("m", arch)
        assert ("--install kernel-64k-core" in text) == (arch == "arm64")
        assert "rpm-ostree" not in text or arch == "arm64"  # nothing else to install
        # the other architectures' images don't change, so neither do their keys
        assert (pages.arch_key(arch) != default.arch_key(arch)) == (arch == "arm64")


def test_64k_pages_on_a_pool_without_arm64_is_refused_naming_its_architectures() -> None:
    refused = inputs_for(("amd64", "s390x"), kernel_type="64k-pages")
    assert isinstance(refused, Refusal)
    assert refused.reason is EventReason.UNSUPPORTED_KERNEL_TYPE
    assert "only on arm64" in refused.message and "amd64, s390x" in refused.message


@pytest.mark.parametrize(
    ("os", "reason", "words"),
    [
        ({"kernel_type": "lowlatency"}, EventReason.UNSUPPORTED_KERNEL_TYPE, "'lowlatency'"),
        ({"extensions": ("usbguard", "vim;reboot")}, EventReason.INVALID_EXTENSION, "vim;reboot"),
        ({"extensions": ("$(id)",)}, EventReason.INVALID_EXTENSION, "$(id)"),
        ({"extensions": ("a b",)}, EventReason.INVALID_EXTENSION, "'a b'"),
        ({"extensions": ("usbguard",), "extensions_image": ""}, EventReason.NO_EXTENSIONS_IMAGE,
         "amd64, arm64"),
        ({"extensions_image": "quay.io/x,target=/etc"}, EventReason.INVALID_BASE_IMAGE,
         "baseOSExtensionsContainerImage"),
    ],
)  # fmt: skip
def test_what_cannot_be_built_is_refused_naming_the_architectures(
    os: dict[str, object], reason: EventReason, words: str
) -> None:
    refused = inputs_for(("amd64", "arm64"), **os)
    assert isinstance(refused, Refusal)
    assert refused.reason is reason
    assert words in refused.message
    assert "rendered-worker-1" in refused.message


def test_no_admin_controlled_text_outside_its_own_section() -> None:
    """File contents and extension names travel as context files; the admin's entry is
    the last section. None of them appears anywhere else in the text."""
    file_text = "ADMIN-FILE-TEXT"
    inputs = built(files={"/etc/x": file_text}, extensions=("adminpkg",))
    for arch in ARCHES:
        ours, _ = split(inputs.rendered_containerfile("m", arch), arch)
        for text in (file_text, "adminpkg", "noarch-admin-text", "arm-admin-text"):
            assert text not in ours


def test_without_extensions_or_kernel_no_package_step() -> None:
    text = built().rendered_containerfile("m", "amd64")
    assert "rpm-ostree" not in text and "mco-extensions" not in text
