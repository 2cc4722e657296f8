"""The build and push scripts, run as their Jobs' pods would run them, against a real registry.

Every image here is made locally (``buildah from scratch``); the registry is Debian's
``docker-registry`` on 127.0.0.1 with TLS and htpasswd auth (``hack/registry.py``); each
pod runs through ``hack/podrunner.py``, which materialises the ConfigMap/Secret volumes
and runs the container's command with its env, so the exact scripts of
``mosb_controller/scripts`` run.

``make_build_pod`` / ``make_push_pod`` write the pod specs by hand for now; they are the
single place to swap for the controller's rendered Job specs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import podrunner
import registry

pytestmark = [pytest.mark.registry]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / "mosb_controller" / "scripts"
ALL_ARCHES = ("amd64", "arm64", "ppc64le", "s390x")
REPO = "mosb/os-images"
BASE_REPO = "ocp/rhcos"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
POD_TIMEOUT = 300.0

SCRIPTS_MOUNT = "/etc/mosb/scripts"
INPUTS_MOUNT = "/etc/mosb/inputs"
PUSH_SECRET_MOUNT = "/etc/mosb/push-secret"  # noqa: S105 (a path, not a secret)
PULL_SECRET_MOUNT = "/etc/mosb/pull-secret"  # noqa: S105
CA_MOUNT = "/etc/mosb/certs"
DOCKERCONFIG = ".dockerconfigjson"  # the key (and file name) of a pull/push Secret


# -- tools ------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = registry.missing_tools()
    if missing:
        message = f"registry tests need {', '.join(missing)} on PATH (Debian: hack/setup.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    with registry.LocalRegistry() as r:
        yield r


@pytest.fixture(scope="module")
def base_image(reg: registry.LocalRegistry) -> str:
    return registry.seed_base_image(reg, BASE_REPO, ALL_ARCHES)


def scripts_data() -> dict[str, bytes]:
    """The "scripts" ConfigMap: every script of ``mosb_controller/scripts`` (the entry
    points and the ``common.sh`` they source from their own directory)."""
    data = {p.name: p.read_bytes() for p in sorted(SCRIPTS_DIR.glob("*.sh"))}
    assert {"build.sh", "push.sh", "common.sh"} <= data.keys(), sorted(data)
    return data


def k8s_literal(value: str) -> str:
    """An env value/arg the kubelet passes through unchanged (``$`` -> ``$$``)."""
    return value.replace("$", "$$")


# -- the pod contract (hand-written; to be replaced by the controller's Job specs) --------
def one_file_volume(name: str, kind: str, source: str, key: str, path: str) -> dict[str, Any]:
    """A volume of one ConfigMap (``kind="configMap"``) or Secret key, as the file ``path``."""
    ref = "secretName" if kind == "secret" else "name"
    return {"name": name, kind: {ref: source, "items": [{"key": key, "path": path}]}}


def make_build_pod(
    *,
    mosb: str,
    arch: str,
    target_image: str,
    image_format: str = "oci",
    tls_verify: bool = True,
    pull_secret: bool = True,
    ca: bool = True,
) -> dict[str, Any]:
    """The build Job's pod for one architecture."""
    env = [
        {"name": "MOSB_ARCH", "value": k8s_literal(arch)},
        {"name": "MOSB_CONTAINERFILE", "value": f"{INPUTS_MOUNT}/Containerfile"},
        {"name": "MOSB_TARGET_IMAGE", "value": k8s_literal(target_image)},
        {"name": "MOSB_PUSH_AUTHFILE", "value": f"{PUSH_SECRET_MOUNT}/{DOCKERCONFIG}"},
        {
            "name": "MOSB_PULL_AUTHFILE",
            "value": f"{PULL_SECRET_MOUNT}/{DOCKERCONFIG}" if pull_secret else "",
        },
        {"name": "MOSB_TLS_VERIFY", "value": "true" if tls_verify else "false"},
        {"name": "MOSB_CA_DIR", "value": CA_MOUNT if ca else ""},
        {"name": "MOSB_IMAGE_FORMAT", "value": image_format},
        {"name": "MOSB_RESULT_FILE", "value": "/dev/termination-log"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "scripts", "configMap": {"name": "mosb-scripts", "defaultMode": 0o555}},
        one_file_volume(
            "inputs", "configMap", f"{mosb}-inputs", f"Containerfile.{arch}", "Containerfile"
        ),
        one_file_volume("push-secret", "secret", "push-secret", DOCKERCONFIG, DOCKERCONFIG),
        {"name": "containers-storage", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
        {"name": "inputs", "mountPath": INPUTS_MOUNT, "readOnly": True},
        {"name": "push-secret", "mountPath": PUSH_SECRET_MOUNT, "readOnly": True},
        {"name": "containers-storage", "mountPath": "/var/lib/containers"},
    ]
    if pull_secret:
        volumes.append(
            one_file_volume("pull-secret", "secret", "pull-secret", DOCKERCONFIG, DOCKERCONFIG)
        )
        mounts.append({"name": "pull-secret", "mountPath": PULL_SECRET_MOUNT, "readOnly": True})
    if ca:
        volumes.append(
            one_file_volume(
                "registry-ca", "configMap", "mosb-registry-ca", "ca-bundle.crt", "ca.crt"
            )
        )
        mounts.append({"name": "registry-ca", "mountPath": CA_MOUNT, "readOnly": True})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{mosb}-build-{arch}"[:63], "namespace": "openshift-mco"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/arch": arch},
            "containers": [
                {
                    "name": "build",
                    "image": "quay.io/buildah/stable",
                    "command": ["/bin/bash", f"{SCRIPTS_MOUNT}/build.sh"],
                    "env": env,
                    "volumeMounts": mounts,
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
            "volumes": volumes,
        },
    }


def make_push_pod(
    *,
    mosb: str,
    target_image: str,
    arch_images: Mapping[str, str] | str,
    image_format: str = "oci",
    ca: bool = True,
) -> dict[str, Any]:
    """The push Job's pod: ``arch_images`` maps arch -> ``repo@digest`` (or raw env text)."""
    lines = (
        arch_images
        if isinstance(arch_images, str)
        else "".join(f"{a} {ref}\n" for a, ref in sorted(arch_images.items()))
    )
    pod = make_build_pod(mosb=mosb, arch="amd64", target_image=target_image, ca=ca)
    ctr = pod["spec"]["containers"][0]
    ctr["name"] = "push"
    ctr["command"] = ["/bin/bash", f"{SCRIPTS_MOUNT}/push.sh"]
    ctr["env"] = [
        {"name": "MOSB_TARGET_IMAGE", "value": k8s_literal(target_image)},
        {"name": "MOSB_ARCH_IMAGES", "value": k8s_literal(lines)},
        {"name": "MOSB_PUSH_AUTHFILE", "value": f"{PUSH_SECRET_MOUNT}/{DOCKERCONFIG}"},
        {"name": "MOSB_TLS_VERIFY", "value": "true"},
        {"name": "MOSB_CA_DIR", "value": CA_MOUNT if ca else ""},
        {"name": "MOSB_IMAGE_FORMAT", "value": image_format},
        {"name": "MOSB_RESULT_FILE", "value": "/dev/termination-log"},
    ]
    keep = {"scripts", "push-secret", "registry-ca", "containers-storage"}
    ctr["volumeMounts"] = [m for m in ctr["volumeMounts"] if m["name"] in keep]
    pod["spec"]["volumes"] = [v for v in pod["spec"]["volumes"] if v["name"] in keep]
    pod["metadata"]["name"] = f"{mosb}-push"[:63]
    del pod["spec"]["nodeSelector"]
    return pod


def pod_volumes(
    reg: registry.LocalRegistry,
    *,
    containerfiles: Mapping[str, str] | None = None,
    wrong_push: bool = False,
    wrong_pull: bool = False,
) -> dict[str, dict[str, bytes]]:
    """The data of the ConfigMaps/Secrets the pods' volumes refer to."""
    data: dict[str, dict[str, bytes]] = {
        "scripts": scripts_data(),
        "push-secret": {DOCKERCONFIG: reg.dockerconfigjson(wrong_password=wrong_push)},
        "pull-secret": {DOCKERCONFIG: reg.dockerconfigjson(wrong_password=wrong_pull)},
        "registry-ca": {"ca-bundle.crt": (reg.ca_dir / "ca.crt").read_bytes()},
    }
    if containerfiles is not None:
        data["inputs"] = {f"Containerfile.{a}": c.encode() for a, c in containerfiles.items()}
    return data


def only_declared(pod: Mapping[str, Any], data: Mapping[str, dict[str, bytes]]) -> dict[str, Any]:
    names = {v["name"] for v in podrunner.pod_spec_of(pod).get("volumes") or []}
    return {k: v for k, v in data.items() if k in names}


def run(
    pod: Mapping[str, Any], data: Mapping[str, dict[str, bytes]], workdir: Path
) -> podrunner.PodOutcome:
    return podrunner.run_pod(pod, only_declared(pod, data), workdir=workdir, timeout=POD_TIMEOUT)


def containerfile(base: str, mosb: str, extra: str = "") -> str:
    # No RUN: nothing may need emulation when building a foreign architecture here.
    return (
        f"FROM {base} AS base\n"
        f"FROM {base}\n"
        "ARG TARGETARCH\n"
        f'LABEL io.mosb.test.mosb="{mosb}" io.mosb.test.targetarch="${{TARGETARCH}}"\n'
        "COPY --from=base /etc/base-release /usr/share/mosb/base-release\n"
        f"{extra}"
    )


def new_mosb(prefix: str = "worker") -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


@dataclass(frozen=True)
class Built:
    arch: str
    tag_ref: str
    outcome: podrunner.PodOutcome


def build_all(
    reg: registry.LocalRegistry,
    base: str,
    mosb: str,
    arches: Sequence[str],
    tmp_path: Path,
    *,
    image_format: str = "oci",
) -> dict[str, Built]:
    """Run every architecture's build pod concurrently, as separate nodes would."""
    files = {a: containerfile(base, mosb) for a in arches}
    data = pod_volumes(reg, containerfiles=files)

    def one(arch: str) -> Built:
        target = f"{reg.host}/{REPO}:{mosb}-{arch}"
        pod = make_build_pod(mosb=mosb, arch=arch, target_image=target, image_format=image_format)
        return Built(arch, target, run(pod, data, tmp_path / f"build-{arch}"))

    with ThreadPoolExecutor(max_workers=len(arches)) as pool:
        return {b.arch: b for b in pool.map(one, arches)}


def assert_ok(outcome: podrunner.PodOutcome) -> str:
    assert outcome.exit_code == 0, (outcome.termination_message, outcome.log_tail)
    assert DIGEST_RE.match(outcome.termination_message), outcome.termination_message
    return outcome.termination_message


def assert_failed(outcome: podrunner.PodOutcome) -> tuple[str, str]:
    """(first line, whole message) of a failed pod's termination message."""
    assert outcome.exit_code != 0, outcome.log_tail
    message = outcome.termination_message
    assert message.startswith("error: "), message
    assert len(message.encode()) < 2048
    return message.splitlines()[0], message


# -- cases ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arches", "image_format"),
    [
        (("amd64", "arm64"), "oci"),
        (ALL_ARCHES, "oci"),
        (("s390x", "amd64"), "docker"),
    ],
    ids=["2-arch-oci", "4-arch-oci", "2-arch-docker"],
)
def test_build_each_arch_then_push_list(
    reg: registry.LocalRegistry,
    base_image: str,
    tmp_path: Path,
    arches: Sequence[str],
    image_format: str,
) -> None:
    mosb = new_mosb()
    built = build_all(reg, base_image, mosb, arches, tmp_path, image_format=image_format)
    want_manifest = registry.OCI_MANIFEST if image_format == "oci" else registry.DOCKER_MANIFEST
    want_list = registry.OCI_INDEX if image_format == "oci" else registry.DOCKER_LIST

    digests: dict[str, str] = {}
    for arch, b in built.items():
        digest = assert_ok(b.outcome)
        stored = reg.manifest(REPO, f"{mosb}-{arch}")
        assert stored is not None
        media_type, stored_digest, _ = stored
        assert stored_digest == digest, arch  # what the termination message says was pushed
        assert media_type == want_manifest
        config = reg.inspect_config(f"{reg.host}/{REPO}@{digest}")
        assert (config["architecture"], config["os"]) == (arch, "linux")
        labels = config["config"]["Labels"]
        assert labels["io.mosb.test.base-arch"] == arch  # built on the base's own variant
        assert labels["io.mosb.test.mosb"] == mosb
        assert labels["io.mosb.test.targetarch"] == arch  # buildah's automatic TARGETARCH
        assert len(config["rootfs"]["diff_ids"]) == 2  # base layer + the COPY
        digests[arch] = digest

    target = f"{reg.host}/{REPO}:{mosb}"
    push = make_push_pod(
        mosb=mosb,
        target_image=target,
        arch_images={a: f"{reg.host}/{REPO}@{d}" for a, d in digests.items()},
        image_format=image_format,
    )
    outcome = run(push, pod_volumes(reg), tmp_path / "push")
    list_digest = assert_ok(outcome)

    raw = reg.inspect_raw(target)
    assert registry.sha256_digest(raw) == list_digest
    stored = reg.manifest(REPO, mosb)
    assert stored is not None and stored[:2] == (want_list, list_digest)
    index = json.loads(raw)
    assert index["mediaType"] == want_list
    platforms = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]]
    assert sorted(platforms) == sorted(("linux", a) for a in arches)
    assert len(platforms) == len(set(platforms))
    assert {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]} == digests
    assert {m["mediaType"] for m in index["manifests"]} == {want_manifest}


def test_list_digest_depends_only_on_the_set_of_arch_images(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    """Lines in any order, pushed again: the same list, the same digest (idempotent)."""
    mosb = new_mosb("order")
    arches = ("s390x", "amd64", "arm64")
    built = build_all(reg, base_image, mosb, arches, tmp_path)
    refs = {a: f"{reg.host}/{REPO}@{assert_ok(b.outcome)}" for a, b in built.items()}
    forward = "".join(f"{a} {refs[a]}\n" for a in arches)
    backward = "".join(f"{a} {refs[a]}\n" for a in reversed(arches))
    digests = []
    for i, lines in enumerate((forward, backward, backward)):
        push = make_push_pod(mosb=mosb, target_image=f"{reg.host}/{REPO}:{mosb}", arch_images=lines)
        digests.append(assert_ok(run(push, pod_volumes(reg), tmp_path / f"push-{i}")))
    assert len(set(digests)) == 1, digests
    index = json.loads(reg.inspect_raw(f"{reg.host}/{REPO}:{mosb}"))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == sorted(arches)


def test_wrong_credentials_fail_the_build_with_a_clear_cause(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    mosb = new_mosb("badauth")
    target = f"{reg.host}/{REPO}:{mosb}-arm64"
    pod = make_build_pod(mosb=mosb, arch="arm64", target_image=target)
    files = {"arm64": containerfile(base_image, mosb)}

    # wrong pull secret: the base image can't be pulled
    data = pod_volumes(reg, containerfiles=files, wrong_pull=True, wrong_push=True)
    first, message = assert_failed(run(pod, data, tmp_path / "pull"))
    assert "authentication" in first and reg.host in first, message
    assert "arm64" in first

    # right pull secret, wrong push secret: the push is refused
    data = pod_volumes(reg, containerfiles=files, wrong_push=True)
    first, message = assert_failed(run(pod, data, tmp_path / "push"))
    assert "push" in first and "authentication" in first and reg.host in first, message
    assert reg.manifest(REPO, f"{mosb}-arm64") is None

    # the push Job with a wrong push secret: refused before anything is published
    push = make_push_pod(
        mosb=mosb,
        target_image=f"{reg.host}/{REPO}:{mosb}",
        arch_images={"arm64": f"{reg.host}/{REPO}@sha256:{'2' * 64}"},
    )
    data = pod_volumes(reg, wrong_push=True)
    first, message = assert_failed(run(push, data, tmp_path / "push-list"))
    assert "authentication" in first and reg.host in first and "arm64" in first, message
    assert reg.manifest(REPO, mosb) is None


def test_push_fails_naming_a_missing_or_mismatched_arch_and_publishes_nothing(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    mosb = new_mosb("missing")
    built = build_all(reg, base_image, mosb, ["amd64"], tmp_path)
    amd64 = f"{reg.host}/{REPO}@{assert_ok(built['amd64'].outcome)}"
    absent = f"{reg.host}/{REPO}@sha256:{'0' * 64}"
    target = f"{reg.host}/{REPO}:{mosb}"

    push = make_push_pod(
        mosb=mosb, target_image=target, arch_images={"amd64": amd64, "arm64": absent}
    )
    first, message = assert_failed(run(push, pod_volumes(reg), tmp_path / "push-missing"))
    assert "arm64" in first and absent in first and "missing" in first, message
    assert "amd64" not in first, message  # only the broken one is named
    assert reg.manifest(REPO, mosb) is None
    assert mosb not in reg.tags(REPO)

    # the amd64 image offered as arm64: its config says amd64
    push = make_push_pod(
        mosb=mosb, target_image=target, arch_images={"amd64": amd64, "arm64": amd64}
    )
    first, message = assert_failed(run(push, pod_volumes(reg), tmp_path / "push-mismatch"))
    assert "arm64" in first and "linux/amd64" in first and amd64 in first, message
    assert reg.manifest(REPO, mosb) is None


INJECTIONS = [
    "$(touch {marker})",
    "`touch {marker}`",
    "x; touch {marker}",
    "x && touch {marker} #",
    "x' ; touch {marker}; echo '",
    'x" ; touch {marker}; echo "',
    "$$(touch {marker})",
    "x\ntouch {marker}",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_shell_injection_in_admin_strings_never_executes(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path, template: str
) -> None:
    marker = tmp_path / "pwned"
    evil = template.format(marker=marker)
    mosb = new_mosb("inject")
    good_target = f"{reg.host}/{REPO}:{mosb}-amd64"
    files = {"amd64": containerfile(base_image, mosb)}
    data = pod_volumes(reg, containerfiles=files)

    # in the target image (tag and repository): rejected as an invalid reference
    for bad_target in (f"{good_target}{evil}", f"{reg.host}/{REPO}{evil}:{mosb}", evil, "--help"):
        pod = make_build_pod(mosb=mosb, arch="amd64", target_image=bad_target)
        first, _ = assert_failed(run(pod, data, tmp_path / "target"))
        assert "MOSB_TARGET_IMAGE is not a valid image reference" in first

    # in the architecture: rejected against the fixed list
    pod = make_build_pod(mosb=mosb, arch=f"amd64{evil}", target_image=good_target)
    data_arch = pod_volumes(reg, containerfiles={f"amd64{evil}": files["amd64"]})
    first, _ = assert_failed(run(pod, data_arch, tmp_path / "arch"))
    assert "MOSB_ARCH must be one of" in first

    # in the push script's inputs
    push = make_push_pod(
        mosb=mosb,
        target_image=f"{reg.host}/{REPO}:{mosb}",
        arch_images=f"amd64 {reg.host}/{REPO}@sha256:{'1' * 64}{evil}\narm64{evil} x\n",
    )
    assert_failed(run(push, pod_volumes(reg), tmp_path / "push"))
    push = make_push_pod(mosb=mosb, target_image=f"{reg.host}/{REPO}:{mosb}{evil}", arch_images="")
    first, _ = assert_failed(run(push, pod_volumes(reg), tmp_path / "push-target"))
    assert "MOSB_TARGET_IMAGE is not a valid image reference" in first

    assert not marker.exists()


def test_shell_injection_in_containerfile_content_is_only_data(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    mosb = new_mosb("inject-cf")
    evil_labels = "".join(
        f"LABEL io.mosb.test.evil{i}={json.dumps(t.format(marker=marker))}\n"
        for i, t in enumerate(INJECTIONS[:7])
    )
    files = {"amd64": containerfile(base_image, mosb, extra=evil_labels)}
    target = f"{reg.host}/{REPO}:{mosb}-amd64"
    pod = make_build_pod(mosb=mosb, arch="amd64", target_image=target)
    outcome = run(pod, pod_volumes(reg, containerfiles=files), tmp_path / "build")
    digest = assert_ok(outcome)
    labels = reg.inspect_config(f"{reg.host}/{REPO}@{digest}")["config"]["Labels"]
    assert labels["io.mosb.test.evil1"] == f"`touch {marker}`"
    assert not marker.exists()


def test_failure_message_is_short_and_first_line_plain(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    """A base image that doesn't exist: the cause first, then the log tail, < 2048 bytes."""
    mosb = new_mosb("nobase")
    files = {"ppc64le": containerfile(f"{reg.host}/{BASE_REPO}:does-not-exist", mosb)}
    target = f"{reg.host}/{REPO}:{mosb}-ppc64le"
    pod = make_build_pod(mosb=mosb, arch="ppc64le", target_image=target)
    first, message = assert_failed(run(pod, pod_volumes(reg, containerfiles=files), tmp_path))
    assert first.startswith("error: build for linux/ppc64le failed"), message
    assert "not found" in first, message
    assert len(message.splitlines()) > 1  # followed by the command's last lines

    # a base image without this architecture's variant
    amd64_only = registry.seed_base_image(reg, "ocp/amd64-only", ["amd64"])
    files = {"s390x": containerfile(amd64_only, mosb)}
    pod = make_build_pod(mosb=mosb, arch="s390x", target_image=f"{reg.host}/{REPO}:{mosb}-s390x")
    first, message = assert_failed(
        run(pod, pod_volumes(reg, containerfiles=files), tmp_path / "no-variant")
    )
    assert (
        first
        == "error: build for linux/s390x failed: the base image has no variant for linux/s390x"
    ), message


# -- the pod runner itself ----------------------------------------------------------------
def test_podrunner_expands_like_the_kubelet() -> None:
    env = {"A": "1", "B": "two"}
    assert podrunner.expand("$(A)-$(B)-$(C)", env.get) == "1-two-$(C)"
    assert podrunner.expand("$$(A) $$ $x $(", env.get) == "$(A) $ $x $("
    assert podrunner.expand("$(touch /tmp/x)", env.get) == "$(touch /tmp/x)"


def test_podrunner_falls_back_to_logs_on_error(tmp_path: Path) -> None:
    pod: dict[str, Any] = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "command": [
                        "/bin/sh",
                        "-c",
                        'for i in $(seq 1 200); do echo "line $i"; done; exit 3',
                    ],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ]
        }
    }
    outcome = podrunner.run_pod(pod, {}, workdir=tmp_path, timeout=30)
    assert outcome.exit_code == 3
    lines = outcome.termination_message.splitlines()
    assert lines[-1] == "line 200" and len(lines) == 80
