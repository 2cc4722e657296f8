"""The contract of the controller's build and push Jobs, run for real against a real
registry: what the registry tests (tests/registry/test_build_push_scripts.py) and the
push benchmark (hack/bench_push.py) share.

Every Job and ConfigMap is rendered by the controller itself
(``mosb_controller.planning.objects``: ``build_job``, ``push_job``, ``inputs_configmap``)
from a ``BuildInputs``; each Job's pod runs through ``hack/podrunner.py`` against a
``hack/registry.py`` registry, with the data of the ConfigMaps/Secrets its volumes name as
the cluster would hold them (the credentials as ``.dockerconfigjson``; the registry's CA
in the inputs ConfigMap, where the operator puts what its registry CA ConfigMap holds).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hack import podrunner, registry
from mosb_controller.arch import SUPPORTED_ARCHES
from mosb_controller.planning import network
from mosb_controller.planning import objects as jobs
from mosb_controller.planning.inputs import BuildInputs
from mosb_controller.settings import Settings

ALL_ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
REPO = "mosb/os-images"
BASE_REPO = "ocp/rhcos"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
POD_TIMEOUT = 300.0

NAMESPACE = "openshift-machine-config-operator"
PUSH_SECRET = "mosb-push-secret"  # noqa: S105 - a Secret's name
PULL_SECRET = "mosb-pull-secret"  # noqa: S105 - a Secret's name
RENDERED_CONFIG = "rendered-worker-5b1a0c7e2d"
UID = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


def containerfile(extra: str = "") -> str:
    """An admin's Containerfile content, in the upstream convention: it starts from the
    stage ``configs`` the controller renders in front of it. No RUN: these tests are about
    the scripts (RUN steps: tests/e2e/test_run_steps.py, test_os_like_base.py)."""
    return (
        "FROM configs AS final\n"
        "ARG TARGETARCH\n"
        'LABEL io.mosb.test.targetarch="${TARGETARCH}"\n'
        "COPY --from=configs /etc/base-release /usr/share/mosb/base-release\n"
        f"{extra}"
    )


def make_inputs(
    reg: registry.LocalRegistry,
    base: str,
    arches: Sequence[str],
    *,
    mosc: str = "",
    content: str | None = None,
) -> BuildInputs:
    """What the controller would plan from a MOSC targeting ``<registry>/REPO``, its pool
    having nodes of ``arches``; every architecture gets ``content``."""
    return BuildInputs(
        mosc=mosc or f"worker-{secrets.token_hex(4)}",
        pool="worker",
        rendered_config=RENDERED_CONFIG,
        base_image=base,
        architectures=tuple(sorted(arches)),
        containerfiles=dict.fromkeys(arches, containerfile() if content is None else content),
        repository=f"{reg.host}/{REPO}",
        push_secret=PUSH_SECRET,
        pull_secret=PULL_SECRET,
    )


@dataclass(frozen=True)
class Scenario:
    """One MachineOSBuild: its rendered objects, and the data of every ConfigMap and
    Secret its Jobs' volumes name (as the cluster would hold them)."""

    reg: registry.LocalRegistry
    inputs: BuildInputs
    mosb: str
    settings: Settings
    wrong_push: bool = False
    wrong_pull: bool = False
    secrets: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)  # more, by name

    def configmap(self) -> dict[str, Any]:
        arches = list(self.inputs.architectures)
        return jobs.inputs_configmap(self.inputs, self.mosb, UID, arches, self.settings)

    def build_job(self, arch: str) -> dict[str, Any]:
        return jobs.build_job(self.inputs, self.mosb, UID, arch, self.settings)

    def push_job(self, images: Mapping[str, str]) -> dict[str, Any]:
        return jobs.push_job(self.inputs, self.mosb, UID, images, self.settings)

    def objects(self) -> dict[tuple[str, str], dict[str, bytes]]:
        """(kind, name) -> data of the ConfigMaps and Secrets in the Jobs' namespace."""
        cm = self.configmap()
        objects = {
            ("ConfigMap", cm["metadata"]["name"]): {k: v.encode() for k, v in cm["data"].items()},
            ("Secret", self.inputs.push_secret): {
                jobs.DOCKERCONFIG: self.reg.dockerconfigjson(wrong_password=self.wrong_push)
            },
        }
        for name, data in self.secrets.items():
            objects["Secret", name] = dict(data)
        if self.inputs.pull_secret:
            objects["Secret", self.inputs.pull_secret] = {
                jobs.DOCKERCONFIG: self.reg.dockerconfigjson(wrong_password=self.wrong_pull)
            }
        return objects

    def volume_data(self, job: Mapping[str, Any]) -> dict[str, dict[str, bytes]]:
        """Volume name -> the data of the ConfigMap/Secret the volume names; podrunner
        applies the volume's ``items`` (and modes) as the kubelet does. A volume whose
        object doesn't exist gets nothing, so podrunner refuses to start the pod (the
        kubelet would leave it in ContainerCreating)."""
        objects = self.objects()
        data: dict[str, dict[str, bytes]] = {}
        for vol in podrunner.pod_spec_of(job).get("volumes") or []:
            if "configMap" in vol:
                key = ("ConfigMap", vol["configMap"]["name"])
            elif "secret" in vol:
                key = ("Secret", vol["secret"]["secretName"])
            else:
                continue
            if key in objects:
                data[vol["name"]] = objects[key]
        return data

    def run(
        self, job: Mapping[str, Any], workdir: Path, extra_env: Mapping[str, str] | None = None
    ) -> podrunner.PodOutcome:
        """Run the Job's pod; `extra_env` plays what the image sets (e.g. its PATH)."""
        assert job["kind"] == "Job" and job["metadata"]["namespace"] == NAMESPACE
        return podrunner.run_pod(
            job, self.volume_data(job), workdir=workdir, extra_env=extra_env, timeout=POD_TIMEOUT
        )


def scenario(
    reg: registry.LocalRegistry,
    inputs: BuildInputs,
    *,
    mosb: str | None = None,
    image_format: str = "oci",
    wrong_push: bool = False,
    wrong_pull: bool = False,
    trust: Mapping[str, str] | None = None,
) -> Scenario:
    """`trust`: the CA files the build trusts; None: the registry's CA, as the operator
    reads it from its registry CA ConfigMap (cluster/network.py)."""
    if trust is None:
        trust = network.trust_files((reg.ca_dir / "ca.crt").read_text(), [], None)
    inputs = replace(inputs, network=replace(inputs.network, trust=trust))
    settings = Settings(namespace=NAMESPACE, image_format=image_format)
    name = inputs.mosb_name() if mosb is None else mosb
    return Scenario(reg, inputs, name, settings, wrong_push, wrong_pull)


def env_of(job: Mapping[str, Any]) -> dict[str, str]:
    """The container's env as rendered (``$`` still escaped as ``$$``)."""
    container = podrunner.pod_spec_of(job)["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


@dataclass(frozen=True)
class Built:
    arch: str
    tag_ref: str
    outcome: podrunner.PodOutcome


def build_all(
    sc: Scenario, tmp_path: Path, arches: Sequence[str] | None = None
) -> dict[str, Built]:
    """Run the build Job of every architecture (default: all of the inputs') concurrently,
    as separate nodes would."""
    todo = list(sc.inputs.architectures if arches is None else arches)

    def one(arch: str) -> Built:
        job = sc.build_job(arch)
        target = f"{sc.inputs.repository}:{sc.inputs.tag(sc.mosb, arch)}"
        assert env_of(job)["MOSB_TARGET_IMAGE"] == target.replace("$", "$$")
        return Built(arch, target, sc.run(job, tmp_path / f"build-{arch}"))

    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        return {b.arch: b for b in pool.map(one, todo)}


def digested(sc: Scenario, built: Mapping[str, Built]) -> dict[str, str]:
    """arch -> ``<repository>@<digest>``: what the controller records per architecture
    and hands to the push Job."""
    return {a: f"{sc.inputs.repository}@{assert_ok(b.outcome)}" for a, b in built.items()}


def assert_ok(outcome: podrunner.PodOutcome) -> str:
    assert outcome.exit_code == 0, (outcome.termination_message, outcome.log_tail)
    assert DIGEST_RE.match(outcome.termination_message), outcome.termination_message
    return outcome.termination_message
