"""The controller's build and push Jobs, run for real against a real registry.

Every Job and ConfigMap here is rendered by the controller itself
(``mosb_controller.planning.objects``: ``build_job``, ``push_job``, ``inputs_configmap``) from a
``BuildInputs``, through ``hack/jobcontract.py`` (shared with the push benchmark); nothing
of the pod contract is written by hand. Each Job's pod runs
through ``hack/podrunner.py``, which materialises the volumes from the data of the
ConfigMaps/Secrets they name (applying each volume's ``items``) and runs the container's
command with its env, expanded like the kubelet: so the exact scripts, args, env and
mounted files the controller renders run here, with real buildah and skopeo.

Every image is made locally (on the busybox bases of hack/build-bases.sh); the registry
is Debian's ``docker-registry`` on 127.0.0.1 with TLS and htpasswd auth (``hack/registry.py``). The
registry's CA reaches the Jobs in the inputs ConfigMap, where the operator puts what its
registry CA ConfigMap holds, the credentials as the push/pull Secrets would (key
``.dockerconfigjson``). Proxy and trust bundle: test_proxy_trust.py.
"""

from __future__ import annotations

import base64
import copy
import http.client
import http.server
import json
import re
import ssl
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from hack import imagefiles, podrunner, registry
from hack.jobcontract import (
    ALL_ARCHES,
    BASE_REPO,
    RENDERED_CONFIG,
    REPO,
    Scenario,
    assert_ok,
    build_all,
    containerfile,
    digested,
    env_of,
    make_inputs,
    scenario,
)
from mosb_controller.planning import objects as jobs

pytestmark = [pytest.mark.registry]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / "mosb_controller" / "scripts"
MOSB_LABEL = "machineconfiguration.openshift.io/machine-os-build"
CONFIG_LABEL = "machineconfiguration.openshift.io/rendered-machine-config"


@pytest.fixture(scope="module")
def base_image(reg: registry.LocalRegistry) -> str:
    return registry.seed_base_image(reg, BASE_REPO, ALL_ARCHES)


def assert_failed(outcome: podrunner.PodOutcome) -> tuple[str, str]:
    """(first line, whole message) of a failed pod's termination message."""
    assert outcome.exit_code != 0, outcome.log_tail
    message = outcome.termination_message
    assert message.startswith("error: "), message
    assert len(message.encode()) < 2048
    return message.splitlines()[0], message


# -- the contract, statically ---------------------------------------------------------------
def _header(script: str) -> str:
    return (SCRIPTS_DIR / script).read_text().split("\nset -euo pipefail", 1)[0]


def documented_env(script: str) -> set[str]:
    """The MOSB_* variables a script's header documents as its contract."""
    return set(re.findall(r"^#\s+(MOSB_[A-Z_]+)\s", _header(script), re.MULTILINE))


def documented_optional(script: str) -> set[str]:
    """Those its header calls optional: the Job leaves them out when it has no value."""
    return set(re.findall(r"^#\s+(MOSB_[A-Z_]+)\s.*\boptional\b", _header(script), re.MULTILINE))


def test_rendered_jobs_match_the_scripts_contract(reg: registry.LocalRegistry) -> None:
    inputs = make_inputs(reg, f"{reg.host}/{BASE_REPO}:latest", ("amd64", "arm64"))
    sc = scenario(reg, inputs)
    digest = f"{inputs.repository}@sha256:{'a' * 64}"
    # what this scenario has no value for (no build context, entitlement, repositories)
    unset = {"MOSB_CONTEXT_DIR", "MOSB_ENTITLEMENT_DIR", "MOSB_YUM_REPOS_DIR", "MOSB_RPM_GPG_DIR"}
    for job, script, left_out in (
        (sc.build_job("arm64"), "build.sh", unset),
        (sc.push_job({"amd64": digest, "arm64": digest}), "push.sh", set()),
    ):
        container = podrunner.pod_spec_of(job)["containers"][0]
        assert container["command"] == ["/bin/bash", f"{jobs.SCRIPTS_MOUNT}/{script}"]
        assert set(env_of(job)) == documented_env(script) - left_out, script
        assert left_out <= documented_optional(script), script
    # the ConfigMap carries the scripts byte for byte, and every arch's Containerfile
    data = sc.configmap()["data"]
    shipped = {p.name: p.read_text() for p in SCRIPTS_DIR.glob("*.sh")}
    assert {"build.sh", "push.sh", "common.sh"} <= shipped.keys()
    assert {k: v for k, v in data.items() if k.endswith(".sh")} == shipped
    assert data["Containerfile.arm64"] == inputs.rendered_containerfile(sc.mosb, "arm64")
    assert (
        f"\nFROM {inputs.base_image} AS configs\n{containerfile()}" in data["Containerfile.arm64"]
    )


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
    sc = scenario(reg, make_inputs(reg, base_image, arches), image_format=image_format)
    mosb = sc.mosb
    assert not sc.inputs.homogeneous
    built = build_all(sc, tmp_path)
    want_manifest = registry.OCI_MANIFEST if image_format == "oci" else registry.DOCKER_MANIFEST
    want_list = registry.OCI_INDEX if image_format == "oci" else registry.DOCKER_LIST

    digests: dict[str, str] = {}
    for arch, b in built.items():
        digest = assert_ok(b.outcome)
        assert b.tag_ref == f"{reg.host}/{REPO}:{mosb}-{arch}"
        stored = reg.manifest(REPO, f"{mosb}-{arch}")
        assert stored is not None
        media_type, stored_digest, _ = stored
        assert stored_digest == digest, arch  # what the termination message says was pushed
        assert media_type == want_manifest
        config = reg.inspect_config(f"{reg.host}/{REPO}@{digest}")
        assert (config["architecture"], config["os"]) == (arch, "linux")
        labels = config["config"]["Labels"]
        assert labels["io.mosb.test.base-arch"] == arch  # built on the base's own variant
        assert labels["io.mosb.test.targetarch"] == arch  # buildah's automatic TARGETARCH
        assert labels[MOSB_LABEL] == mosb  # the controller's rendered LABELs
        assert labels[CONFIG_LABEL] == RENDERED_CONFIG
        base_repo, base_tag = imagefiles.split_ref(base_image)
        variant = next(m["digest"] for m in imagefiles.manifest(reg, base_repo, base_tag)
                       ["manifests"] if m["platform"]["architecture"] == arch)  # fmt: skip
        base_layers = imagefiles.config(reg, base_repo, variant)["rootfs"]["diff_ids"]
        assert config["rootfs"]["diff_ids"][:-1] == base_layers  # the base's layers + the COPY
        digests[arch] = digest

    target = f"{reg.host}/{REPO}:{mosb}"
    push = sc.push_job(digested(sc, built))
    assert env_of(push)["MOSB_TARGET_IMAGE"] == target
    list_digest = assert_ok(sc.run(push, tmp_path / "push"))

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


def test_homogeneous_pool_builds_the_mosb_tag_itself(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    """One architecture: the build pushes a plain image to the MOSB tag; no list, and the
    controller renders no push Job (its digest is the MOSB's image)."""
    sc = scenario(reg, make_inputs(reg, base_image, ["arm64"]))
    assert sc.inputs.homogeneous
    job = sc.build_job("arm64")
    assert env_of(job)["MOSB_TARGET_IMAGE"] == f"{reg.host}/{REPO}:{sc.mosb}"
    digest = assert_ok(sc.run(job, tmp_path / "build"))

    stored = reg.manifest(REPO, sc.mosb)
    assert stored is not None and stored[:2] == (registry.OCI_MANIFEST, digest)
    assert f"{sc.mosb}-arm64" not in reg.tags(REPO)
    assert [t for t in reg.tags(REPO) if t.startswith(sc.mosb)] == [sc.mosb]
    config = reg.inspect_config(f"{reg.host}/{REPO}@{digest}")
    assert (config["architecture"], config["os"]) == ("arm64", "linux")
    assert config["config"]["Labels"][MOSB_LABEL] == sc.mosb


def test_list_digest_depends_only_on_the_set_of_arch_images(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    """The rendered push Job run again: the same list, the same digest (idempotent). The
    renderer sorts MOSB_ARCH_IMAGES; a copy of its Job with the lines reversed (the only
    edit of a rendered object in this file) shows push.sh doesn't rely on that."""
    arches = ("s390x", "amd64", "arm64")
    sc = scenario(reg, make_inputs(reg, base_image, arches))
    push = sc.push_job(digested(sc, build_all(sc, tmp_path)))
    reversed_push = copy.deepcopy(push)
    container = podrunner.pod_spec_of(reversed_push)["containers"][0]
    (entry,) = [e for e in container["env"] if e["name"] == "MOSB_ARCH_IMAGES"]
    lines = entry["value"].splitlines()
    assert [line.split()[0] for line in lines] == sorted(arches)
    entry["value"] = "\n".join(reversed(lines)) + "\n"

    digests = [
        assert_ok(sc.run(job, tmp_path / f"push-{i}"))
        for i, job in enumerate((push, reversed_push, push))
    ]
    assert len(set(digests)) == 1, digests
    index = json.loads(reg.inspect_raw(f"{reg.host}/{REPO}:{sc.mosb}"))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == sorted(arches)


def test_wrong_credentials_fail_the_build_with_a_clear_cause(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    inputs = make_inputs(reg, base_image, ("amd64", "arm64"))
    sc = scenario(reg, inputs)
    mosb = sc.mosb
    job = sc.build_job("arm64")

    # wrong pull secret: the base image can't be pulled
    bad = replace(sc, wrong_pull=True, wrong_push=True)
    first, message = assert_failed(bad.run(job, tmp_path / "pull"))
    assert "authentication" in first and reg.host in first, message
    assert "pull secret" in first and "arm64" in first, message

    # right pull secret, wrong push secret: the push is refused
    first, message = assert_failed(replace(sc, wrong_push=True).run(job, tmp_path / "push"))
    assert "push" in first and "authentication" in first and reg.host in first, message
    assert reg.manifest(REPO, f"{mosb}-arm64") is None

    # the push Job with a wrong push secret: refused before anything is published
    push = sc.push_job({a: f"{inputs.repository}@sha256:{'2' * 64}" for a in ("amd64", "arm64")})
    first, message = assert_failed(replace(sc, wrong_push=True).run(push, tmp_path / "list"))
    assert "authentication" in first and reg.host in first and "amd64" in first, message
    assert reg.manifest(REPO, mosb) is None


def test_push_fails_naming_a_missing_or_mismatched_arch_and_publishes_nothing(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    sc = scenario(reg, make_inputs(reg, base_image, ("amd64", "arm64")))
    mosb = sc.mosb
    amd64 = digested(sc, build_all(sc, tmp_path, ["amd64"]))["amd64"]
    absent = f"{reg.host}/{REPO}@sha256:{'0' * 64}"

    push = sc.push_job({"amd64": amd64, "arm64": absent})
    first, message = assert_failed(sc.run(push, tmp_path / "push-missing"))
    assert "arm64" in first and absent in first and "missing" in first, message
    assert "amd64" not in first, message  # only the broken one is named
    assert reg.manifest(REPO, mosb) is None
    assert mosb not in reg.tags(REPO)

    # the amd64 image offered as arm64: its config says amd64
    push = sc.push_job({"amd64": amd64, "arm64": amd64})
    first, message = assert_failed(sc.run(push, tmp_path / "push-mismatch"))
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
    """Each string goes into a BuildInputs field (or a name the controller derives from
    them); the controller renders its Jobs, which run: nothing is ever executed."""
    marker = tmp_path / "pwned"
    evil = template.format(marker=marker)
    inputs = make_inputs(reg, base_image, ("amd64", "arm64"))
    sc = scenario(reg, inputs)
    mosb = sc.mosb

    def run(sc: Scenario, job: dict[str, Any], name: str) -> podrunner.PodOutcome:
        return sc.run(job, tmp_path / name)

    # in the repository (the admin's push spec) and the tag: an invalid image reference
    bad_targets = [
        scenario(reg, replace(inputs, repository=repository), mosb=mosb)
        for repository in (f"{reg.host}/{REPO}{evil}", evil, "--help")
    ]
    bad_targets.append(scenario(reg, inputs, mosb=f"{mosb}{evil}"))
    for i, bad in enumerate(bad_targets):
        for job in (bad.build_job("amd64"), bad.push_job({})):
            first, _ = assert_failed(run(bad, job, f"target-{i}"))
            assert "MOSB_TARGET_IMAGE is not a valid image reference" in first

    # in the architecture: rejected against the fixed list
    evil_arch = f"amd64{evil}"
    files = {**inputs.containerfiles, evil_arch: containerfile()}
    bad = scenario(reg, replace(inputs, architectures=(*inputs.architectures, evil_arch),
                                containerfiles=files), mosb=mosb)  # fmt: skip
    first, _ = assert_failed(run(bad, bad.build_job(evil_arch), "arch"))
    assert "MOSB_ARCH must be one of" in first

    # in the per-architecture images the push Job is given
    repo = inputs.repository
    push = sc.push_job({"amd64": f"{repo}@sha256:{'1' * 64}{evil}", f"arm64{evil}": "x"})
    first, _ = assert_failed(run(sc, push, "push-images"))
    assert "MOSB_ARCH_IMAGES" in first

    # in the base image and the rendered config's name: only text of the Containerfile
    # (its FROM, its LABEL's quoted value), never a command
    odd = scenario(reg, replace(inputs, base_image=f"{base_image}{evil}"), mosb=mosb)
    first, message = assert_failed(run(odd, odd.build_job("amd64"), "base-image"))
    assert first.startswith("error: build for linux/amd64 failed"), message
    odd = scenario(reg, replace(inputs, rendered_config=f"{RENDERED_CONFIG}{evil}"), mosb=mosb)
    outcome = run(odd, odd.build_job("amd64"), "rendered-config")
    if outcome.exit_code != 0:  # a newline or a '"' breaks the LABEL line: buildah refuses
        assert_failed(outcome)
    else:
        labels = reg.inspect_config(f"{repo}@{assert_ok(outcome)}")["config"]["Labels"]
        assert labels[CONFIG_LABEL] == f"{RENDERED_CONFIG}{evil}"

    assert not marker.exists()


def test_shell_injection_in_containerfile_content_is_only_data(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil_labels = "".join(
        f"LABEL io.mosb.test.evil{i}={json.dumps(t.format(marker=marker))}\n"
        for i, t in enumerate(INJECTIONS[:7])
    )
    inputs = make_inputs(reg, base_image, ("amd64", "arm64"), content=containerfile(evil_labels))
    sc = scenario(reg, inputs)
    assert evil_labels in sc.configmap()["data"]["Containerfile.amd64"]
    digest = assert_ok(sc.run(sc.build_job("amd64"), tmp_path / "build"))
    labels = reg.inspect_config(f"{reg.host}/{REPO}@{digest}")["config"]["Labels"]
    assert labels["io.mosb.test.evil1"] == f"`touch {marker}`"
    assert not marker.exists()


def test_failure_message_is_short_and_first_line_plain(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    """A base image that doesn't exist: the cause first, then the log tail, < 2048 bytes."""
    missing = f"{reg.host}/{BASE_REPO}:does-not-exist"
    sc = scenario(reg, make_inputs(reg, missing, ("amd64", "ppc64le")))
    first, message = assert_failed(sc.run(sc.build_job("ppc64le"), tmp_path / "missing"))
    assert first.startswith("error: build for linux/ppc64le failed"), message
    assert "not found" in first, message
    assert len(message.splitlines()) > 1  # followed by the command's last lines

    # a base image without this architecture's variant
    amd64_only = registry.seed_base_image(reg, "ocp/amd64-only", ["amd64"])
    sc = scenario(reg, make_inputs(reg, amd64_only, ("amd64", "s390x")))
    first, message = assert_failed(sc.run(sc.build_job("s390x"), tmp_path / "no-variant"))
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


# -- registry faults while publishing -------------------------------------------------------
class FaultyFront:
    """A TLS front of the registry on its own port (same CA): forwards every request,
    except that PUTs of the manifest tagged `fail_tag` get `status` (a registry in
    trouble just as the list is published). Looks like a LocalRegistry to a Scenario."""

    def __init__(self, reg: registry.LocalRegistry, fail_tag: str, status: int = 503) -> None:
        self.reg, self.ca_dir, self.username = reg, reg.ca_dir, reg.username
        self.failed_puts = 0
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "PUT" and self.path.endswith(f"/manifests/{fail_tag}"):
                    front.failed_puts += 1
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPSConnection(reg.host, context=reg.ssl_context())
                conn.putrequest(self.command, self.path, skip_accept_encoding=True)
                for key, value in self.headers.items():  # repeated ones (Accept) too
                    if key.lower() != "host":
                        conn.putheader(key, value)
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value.replace(reg.host, front.host))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(reg.workdir / "tls" / "server.crt", reg.workdir / "tls" / "server.key")
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def dockerconfigjson(self, *, wrong_password: bool = False) -> bytes:
        auth = base64.b64encode(f"{self.username}:{self.reg.password}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}}).encode()


def _built_pair(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> tuple[Scenario, dict[str, str]]:
    sc = scenario(reg, make_inputs(reg, base_image, ("amd64", "arm64")))
    return sc, digested(sc, build_all(sc, tmp_path))


def test_registry_down_at_push_fails_clearly_and_publishes_nothing(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    sc, images = _built_pair(reg, base_image, tmp_path)
    port = reg.port
    reg.stop(remove=False)
    try:
        outcome = sc.run(sc.push_job(images), tmp_path / "push-down")
    finally:
        reg._requested_port = port  # the same address again: the other tests use it
        reg.start()
    first, message = assert_failed(outcome)
    assert f"cannot reach registry {reg.host}" in first and "nothing was pushed" in first, message
    assert reg.manifest(REPO, sc.mosb) is None


def test_registry_5xx_at_list_push_fails_clearly_bounded_and_publishes_nothing(
    reg: registry.LocalRegistry, base_image: str, tmp_path: Path
) -> None:
    sc, images = _built_pair(reg, base_image, tmp_path)
    front = FaultyFront(reg, fail_tag=sc.mosb)
    try:
        via = cast(registry.LocalRegistry, front)
        inputs = replace(sc.inputs, repository=f"{front.host}/{REPO}")
        sc_front = replace(sc, reg=via, inputs=inputs)
        moved = {a: r.replace(reg.host, front.host) for a, r in images.items()}
        first, message = assert_failed(sc_front.run(sc_front.push_job(moved), tmp_path / "5xx"))
    finally:
        front.server.shutdown()
    # buildah 1.28 reports success without a digest here: the script must not believe it.
    assert first.startswith("error: push of the manifest list"), message
    assert f"not confirmed by registry {front.host}" in first, message
    assert "server error" in first and "nothing was published" in first, message
    assert 1 <= front.failed_puts <= 5, front.failed_puts  # retried a few times, then given up
    assert reg.manifest(REPO, sc.mosb) is None  # the per-arch images stay, no list
