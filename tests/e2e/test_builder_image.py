"""Builder mode's image, end to end: upstream's on-cluster-build template per architecture
on the OS-like base, whose stand-ins (hack/fixtures/os-tools) record what each build asked
of ignition-apply, rpm-ostree, ostree and update-ca-trust; and upstream's rebuild rule:
a file-only edit of the pool's config reuses everything, an added extension rebuilds all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api import MOSB_ANNOTATION, ROLE_LABEL, MachineConfig
from api.names import GROUP, VERSION
from hack import imagefiles, registry
from hack.localcluster import ARCHES, LocalCluster
from tests.support.e2e import condition, mosbs, succeeded, wait

POOL = "oci-four"
EXTENSIONS = ["usbguard", "kerberos"]
RECORDS = "/var/lib/mosb-fixtures"
RPM_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}
EXTENSIONS_DIR = "/usr/share/rpm-ostree/extensions"  # the repository inside that image


def package(extension: str, arch: str) -> str:
    return f"{extension}-1.0-1.{RPM_ARCH[arch]}.rpm"


@pytest.fixture(scope="module")
def extensions_image(local: LocalCluster) -> str:
    """The release's extensions image as a multi-arch list: each variant's repository
    holds packages of its own architecture only (stand-ins: named files)."""
    every = [*EXTENSIONS, "wasm"]
    return registry.seed_base_image(
        local.registry, "ocp/extensions", ARCHES, flavour="scratch",
        files=lambda arch: {f"{EXTENSIONS_DIR}/{package(e, arch)}": e for e in every},
    )  # fmt: skip


def render(
    local: LocalCluster, n: int, motd: str, extensions: list[str], extensions_image: str
) -> str:
    """A rendered config of the pool (files, extensions, 64k-pages), and the pool on it."""
    name = f"rendered-{POOL}-{n}"
    files = [{"path": "/etc/motd", "mode": 420, "contents": {"source": f"data:,{motd}"}}]
    local.create("machineconfigs", "MachineConfig", {"metadata": {"name": name}, "spec": {
        "osImageURL": local.base_image,
        "baseOSExtensionsContainerImage": extensions_image,  # multi-arch, as the release's
        "config": {"ignition": {"version": "3.5.0"}, "storage": {"files": files}},
        "extensions": extensions, "kernelType": "64k-pages", "kernelArguments": ["nosmt"],
    }})  # fmt: skip
    local.custom.patch_cluster_custom_object(
        GROUP, VERSION, "machineconfigpools", POOL, {"spec": {"configuration": {"name": name}}}
    )
    return name


def built_from(local: LocalCluster, config: str) -> dict[str, Any]:
    """The succeeded MOSB of the rendered config `config`."""

    def done() -> dict[str, Any] | None:
        for m in mosbs(local, POOL):
            if m["spec"]["machineConfig"]["name"] == config:
                assert condition(m, "Failed") != "True", json.dumps(m["status"], indent=1)
                return m if condition(m, "Succeeded") == "True" else None
        return None

    found: dict[str, Any] = wait(done, 300, f"the MOSB of {config} succeeded")
    return found


def pods_of(local: LocalCluster, mosb: str, role: str) -> list[str]:
    """The architectures (or "push") of the pods the harness ran for `mosb`."""
    assert local.harness is not None
    return sorted(
        p["metadata"]["annotations"].get("mosb-controller.io/arch", "push")
        for p in local.harness.ran
        if p["metadata"]["annotations"].get(MOSB_ANNOTATION) == mosb
        and p["metadata"]["labels"][ROLE_LABEL] == role
    )


def in_each_image(local: LocalCluster, ref: str, path: str) -> dict[str, str | None]:
    return {a: i["content"] for a, i in imagefiles.per_platform(local.registry, ref, path).items()}


def calls(log: str | None, field: str = "arg") -> list[list[str]]:
    """The stand-in's recorded calls: each the list of its arguments (or of another
    recorded `field`: rpm-ostree's "repo-file", the packages its repositories offered)."""
    found: list[list[str]] = []
    for line in (log or "").splitlines():
        if line == "call:":
            found.append([])
        elif line.startswith(f"{field}: ") and found:
            found[-1].append(line[len(field) + 2 :])
    return found


def test_each_image_is_upstreams_and_a_file_edit_rebuilds_nothing(
    local: LocalCluster, extensions_image: str
) -> None:
    local.add_pool(POOL, ARCHES)
    first_config = render(local, 2, "one", EXTENSIONS, extensions_image)
    local.apply_mosc(POOL, [("NoArch", "RUN echo admin > /etc/admin-step")])
    first = succeeded(local, POOL)
    ref = first["status"]["digestedImagePushSpec"]
    rendered = MachineConfig.from_k8s(local.get("machineconfigs", first_config))

    current = in_each_image(local, ref, "/etc/machine-config-daemon/currentconfig")
    ignition = in_each_image(local, ref, f"{RECORDS}/ignition-apply.config")
    rpm_ostree = in_each_image(local, ref, f"{RECORDS}/rpm-ostree.log")
    assert sorted(current) == sorted(ARCHES)
    for arch in ARCHES:
        assert json.loads(current[arch] or "") == rendered.to_k8s(), arch
        assert json.loads(ignition[arch] or "") == rendered.spec.config, arch
        wanted = [["install", *EXTENSIONS]]
        if arch == "arm64":  # 64k-pages exists only there
            wanted.append(["override", "remove", "kernel", "kernel-core", "kernel-modules",
                           "kernel-modules-core", "kernel-modules-extra",
                           "--install", "kernel-64k-core", "--install", "kernel-64k-modules",
                           "--install", "kernel-64k-modules-core",
                           "--install", "kernel-64k-modules-extra"])  # fmt: skip
        assert calls(rpm_ostree[arch]) == wanted, arch
        # each call saw the repository of that architecture's variant of the extensions
        # image, and no other architecture's packages
        offered = sorted(package(e, arch) for e in [*EXTENSIONS, "wasm"])
        assert [sorted(c) for c in calls(rpm_ostree[arch], "repo-file")] == [offered] * len(
            wanted
        ), arch
    repo, _ = imagefiles.split_ref(ref)
    for image in imagefiles.manifest(local.registry, repo, ref.partition("@")[2])["manifests"]:
        labels: dict[str, Any] = imagefiles.config(local.registry, repo, image["digest"])["config"][
            "Labels"
        ]
        assert labels["machineconfig"] == first_config
        assert labels["machineconfigpool"] == POOL
        assert labels["baseOSContainerImage"] == local.base_image

    # Only a file changes: a new MOSB of its own config, no Job at all, the same list.
    second = built_from(local, render(local, 3, "two", EXTENSIONS, extensions_image))
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert second["status"]["digestedImagePushSpec"] == ref
    assert pods_of(local, second["metadata"]["name"], "build") == []
    assert pods_of(local, second["metadata"]["name"], "push") == []

    # An added extension: every architecture builds again.
    third = built_from(local, render(local, 4, "two", [*EXTENSIONS, "wasm"], extensions_image))
    assert pods_of(local, third["metadata"]["name"], "build") == sorted(ARCHES)
    assert third["status"]["digestedImagePushSpec"] != ref
