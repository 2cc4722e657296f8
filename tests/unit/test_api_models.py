"""Unit tests of the `api` package: upstream models, their validation, the extension codecs.

Pure: no API server. The fixtures are shaped like objects read from a real cluster
(extra fields the models ignore included).
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api import (
    API_VERSION,
    ARCH_BUILDS_ANNOTATION,
    ARCH_DIGESTS_ANNOTATION,
    ARCHITECTURES_ANNOTATION,
    CURRENT_MACHINE_OS_BUILD_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    REBUILD_ANNOTATION,
    RENDERED_MACHINE_CONFIG_LABEL,
    RETRY_FAILED_ANNOTATION,
    TARGET_MACHINE_CONFIG_POOL_LABEL,
    AnnotationError,
    ArchBuildPhase,
    ArchBuildRecord,
    BuildProgress,
    Condition,
    ConditionStatus,
    ContainerfileArch,
    ImageBuildDegradedReason,
    KubeArch,
    LabelSelector,
    MachineConfig,
    MachineConfigPool,
    MachineConfigPoolConditionType,
    MachineConfigReference,
    MachineOSBuild,
    MachineOSBuildReason,
    MachineOSBuildSpec,
    MachineOSBuildStatus,
    MachineOSConfig,
    MachineOSConfigReference,
    MachineOSImageBuilderType,
    ObjectMeta,
    ObjectReference,
    decode_arch_builds,
    decode_arch_digests,
    decode_architectures,
    describe_validation_error,
    encode_arch_builds,
    encode_arch_digests,
    encode_architectures,
    validate_image_digest_format,
    validate_image_tag_format,
)
from mosb_controller.arch import compile_selector
from tests.support.validation_cases import CASES, VALID_PUSH_SPECS, Case, containerfile_entry

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "0123456789abcdef" * 4
REGISTRY = "image-registry.openshift-image-registry.svc:5000/openshift-machine-config-operator"

MOSC_YAML = f"""
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineOSConfig
metadata:
  name: worker
  uid: 6f0e3b52-2c7a-4a8e-9b7e-0d3c1f8e2a11
  resourceVersion: "48213"
  generation: 3
  creationTimestamp: "2025-03-04T10:11:12Z"
  annotations:
    machineconfiguration.openshift.io/current-machine-os-build: worker-5b7f2d9c1e
    kubectl.kubernetes.io/last-applied-configuration: '{{"kind":"MachineOSConfig"}}'
  labels:
    team: platform
  finalizers: [kopf.zalando.org/KopfFinalizerMarker]
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
spec:
  machineConfigPool:
    name: worker
  imageBuilder:
    imageBuilderType: Job
  baseImagePullSecret:
    name: global-pull-secret-copy
  renderedImagePushSecret:
    name: builder-dockercfg-7n2xk
  renderedImagePushSpec: {REGISTRY}/os-image:latest
  containerFile:
  - containerfileArch: NoArch
    content: |
      FROM configs AS final
      RUN rpm-ostree install tree && \\
          ostree container commit
  - containerfileArch: ARM64
    content: |
      FROM configs AS final
      RUN rpm-ostree install tree htop && ostree container commit
status:
  observedGeneration: 3
  currentImagePullSpec: {REGISTRY}/os-image@{DIGEST_A}
  machineOSBuild:
    group: machineconfiguration.openshift.io
    resource: machineosbuilds
    name: worker-5b7f2d9c1e
  conditions:
  - type: Seeded
    status: "False"
    reason: NotSeeded
    message: ""
    lastTransitionTime: "2025-03-04T10:11:12Z"
"""

MOSB_YAML = f"""
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineOSBuild
metadata:
  name: worker-5b7f2d9c1e
  uid: 0b9f1b7e-57c4-4e54-a6a4-1c1d2f3e4a5b
  resourceVersion: "48290"
  generation: 1
  creationTimestamp: "2025-03-04T10:12:00Z"
  labels:
    machineconfiguration.openshift.io/target-machine-config-pool: worker
    machineconfiguration.openshift.io/rendered-machine-config: rendered-worker-8c1d0e3f7a
    machineconfiguration.openshift.io/machine-os-config: worker
  annotations:
    machineconfiguration.openshift.io/job-uid: 1c2d3e4f
  ownerReferences:
  - apiVersion: machineconfiguration.openshift.io/v1
    kind: MachineOSConfig
    name: worker
    uid: 6f0e3b52-2c7a-4a8e-9b7e-0d3c1f8e2a11
    controller: true
    blockOwnerDeletion: true
spec:
  machineConfig:
    name: rendered-worker-8c1d0e3f7a
  machineOSConfig:
    name: worker
  renderedImagePushSpec: {REGISTRY}/os-image:worker-5b7f2d9c1e
status:
  buildStart: "2025-03-04T10:12:05Z"
  buildEnd: "2025-03-04T10:31:40Z"
  builder:
    imageBuilderType: Job
    job:
      group: batch
      resource: jobs
      namespace: openshift-machine-config-operator
      name: build-worker-5b7f2d9c1e
  relatedObjects:
  - group: batch
    resource: jobs
    namespace: openshift-machine-config-operator
    name: build-worker-5b7f2d9c1e-arm64
  digestedImagePushSpec: {REGISTRY}/os-image@{DIGEST_B}
  conditions:
  - type: Prepared
    status: "False"
    reason: Prepared
    message: Build Prepared and Pending
    lastTransitionTime: "2025-03-04T10:12:05Z"
  - type: Building
    status: "False"
    reason: Building
    message: Image Build In Progress
    lastTransitionTime: "2025-03-04T10:31:40Z"
  - type: Failed
    status: "False"
    reason: Failed
    message: Build Failed
    lastTransitionTime: "2025-03-04T10:12:00Z"
  - type: Interrupted
    status: "False"
    reason: Interrupted
    message: Build Interrupted
    lastTransitionTime: "2025-03-04T10:12:00Z"
  - type: Succeeded
    status: "True"
    reason: Ready
    message: Build Ready
    lastTransitionTime: "2025-03-04T10:31:40Z"
"""

MCP_YAML = """
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: worker
  uid: 2a3b4c5d
  resourceVersion: "47001"
  generation: 4
  labels:
    machineconfiguration.openshift.io/mco-built-in: ""
    pools.operator.machineconfiguration.openshift.io/worker: ""
  annotations:
    mosb-controller.io/architectures: amd64,arm64
spec:
  machineConfigSelector:
    matchLabels:
      machineconfiguration.openshift.io/role: worker
  nodeSelector:
    matchLabels:
      node-role.kubernetes.io/worker: ""
    matchExpressions:
    - key: node.kubernetes.io/exclude
      operator: DoesNotExist
    - key: kubernetes.io/arch
      operator: In
      values: [amd64, arm64]
  paused: false
  maxUnavailable: 1
  configuration:
    name: rendered-worker-8c1d0e3f7a
    source:
    - apiVersion: machineconfiguration.openshift.io/v1
      kind: MachineConfig
      name: 00-worker
status:
  observedGeneration: 4
  machineCount: 3
  readyMachineCount: 3
  updatedMachineCount: 3
  unavailableMachineCount: 0
  degradedMachineCount: 0
  configuration:
    name: rendered-worker-8c1d0e3f7a
    source:
    - apiVersion: machineconfiguration.openshift.io/v1
      kind: MachineConfig
      name: 00-worker
  conditions:
  - type: Updated
    status: "True"
    reason: ""
    message: All nodes are updated with MachineConfig rendered-worker-8c1d0e3f7a
    lastTransitionTime: "2025-03-04T09:00:00Z"
  - type: ImageBuildDegraded
    status: "False"
    reason: BuildSuccess
    message: Build succeeded for pool worker
    lastTransitionTime: "2025-03-04T10:31:41Z"
  - type: RenderDegraded
    status: "False"
    reason: ""
    message: ""
    lastTransitionTime: null
"""

MC_YAML = f"""
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: rendered-worker-8c1d0e3f7a
  annotations:
    machineconfiguration.openshift.io/generated-by-controller-version: 4f1c2b3a
    machineconfiguration.openshift.io/release-image-version: 4.19.0
  ownerReferences:
  - apiVersion: machineconfiguration.openshift.io/v1
    kind: MachineConfigPool
    name: worker
    uid: 2a3b4c5d
    controller: true
    blockOwnerDeletion: true
spec:
  osImageURL: quay.io/openshift-release-dev/ocp-v4.0-art-dev@{DIGEST_A}
  baseOSExtensionsContainerImage: quay.io/openshift-release-dev/ocp-v4.0-art-dev@{DIGEST_B}
  config:
    ignition:
      version: 3.5.0
  extensions: []
  fips: false
  kernelArguments: null
  kernelType: default
"""


def load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def without(obj: dict[str, Any], *paths: str) -> dict[str, Any]:
    """A deep copy of obj without the dotted paths (fields the models don't keep)."""
    out = copy.deepcopy(obj)
    for path in paths:
        *parents, last = path.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    return out


def errors_of(call: Callable[[], object]) -> str:
    with pytest.raises(ValidationError) as info:
        call()
    return describe_validation_error(info.value)


def mosc_dict(**spec: Any) -> dict[str, Any]:
    body = load(MOSC_YAML)
    body["spec"].update(spec)
    return body


# ----------------------------------------------------------------------------------------
# Parsing realistic objects
# ----------------------------------------------------------------------------------------


def test_parse_machineosconfig() -> None:
    mosc = MachineOSConfig.from_k8s(load(MOSC_YAML))
    assert mosc.name == "worker"
    assert mosc.metadata.generation == 3
    assert mosc.metadata.resource_version == "48213"
    assert mosc.metadata.creation_timestamp == datetime(2025, 3, 4, 10, 11, 12, tzinfo=UTC)
    assert mosc.metadata.annotations[CURRENT_MACHINE_OS_BUILD_ANNOTATION] == "worker-5b7f2d9c1e"
    assert REBUILD_ANNOTATION not in mosc.metadata.annotations
    spec = mosc.spec
    assert spec.machine_config_pool.name == "worker"
    assert spec.image_builder.image_builder_type is MachineOSImageBuilderType.JOB
    assert spec.base_image_pull_secret is not None
    assert spec.base_image_pull_secret.name == "global-pull-secret-copy"
    assert spec.rendered_image_push_secret.name == "builder-dockercfg-7n2xk"
    assert spec.rendered_image_push_spec == f"{REGISTRY}/os-image:latest"
    assert [c.containerfile_arch for c in spec.container_file] == [
        ContainerfileArch.NO_ARCH,
        ContainerfileArch.ARM64,
    ]
    assert mosc.status.observed_generation == 3
    assert mosc.status.current_image_pull_spec == f"{REGISTRY}/os-image@{DIGEST_A}"
    assert mosc.status.machine_os_build == ObjectReference(
        group="machineconfiguration.openshift.io",
        resource="machineosbuilds",
        name="worker-5b7f2d9c1e",
    )
    seeded = mosc.status.get_condition("Seeded")
    assert seeded is not None and seeded.status is ConditionStatus.FALSE


def test_containerfile_per_architecture() -> None:
    spec = MachineOSConfig.from_k8s(load(MOSC_YAML)).spec
    noarch = spec.containerfiles[ContainerfileArch.NO_ARCH]
    arm = spec.containerfiles[ContainerfileArch.ARM64]
    assert spec.containerfile_for(ContainerfileArch.ARM64) == arm
    assert spec.containerfile_for(KubeArch.ARM64) == arm
    assert spec.containerfile_for("arm64") == arm
    assert spec.containerfile_for("amd64") == noarch
    assert spec.containerfile_for("riscv64") == noarch  # no enum value: NoArch applies
    only_arm = spec.model_copy(update={"container_file": spec.container_file[1:]})
    assert only_arm.containerfile_for("amd64") is None


def test_parse_machineosbuild() -> None:
    mosb = MachineOSBuild.from_k8s(load(MOSB_YAML))
    assert mosb.spec.machine_config.name == "rendered-worker-8c1d0e3f7a"
    assert mosb.spec.machine_os_config.name == "worker"
    assert mosb.metadata.labels[TARGET_MACHINE_CONFIG_POOL_LABEL] == "worker"
    assert mosb.metadata.labels[RENDERED_MACHINE_CONFIG_LABEL] == "rendered-worker-8c1d0e3f7a"
    assert mosb.metadata.labels[MACHINE_OS_CONFIG_LABEL] == "worker"
    owner = mosb.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("MachineOSConfig", "worker", True)
    status = mosb.status
    assert status.builder is not None and status.builder.job is not None
    assert status.builder.job.resource == "jobs"
    assert status.related_objects[0].name == "build-worker-5b7f2d9c1e-arm64"
    assert status.build_start == datetime(2025, 3, 4, 10, 12, 5, tzinfo=UTC)
    assert status.digested_image_push_spec == f"{REGISTRY}/os-image@{DIGEST_B}"
    assert status.is_condition_true(BuildProgress.SUCCEEDED)
    assert not status.is_condition_true(BuildProgress.FAILED)
    succeeded = status.get_condition(BuildProgress.SUCCEEDED)
    assert succeeded is not None and succeeded.reason == MachineOSBuildReason.READY
    assert status.terminal is BuildProgress.SUCCEEDED


def selects(pool: MachineConfigPool, labels: dict[str, str]) -> bool:
    """The pool's nodeSelector, evaluated by the one selector implementation."""
    raw = pool.spec.node_selector
    return compile_selector(None if raw is None else raw.to_k8s()).matches(labels)


def matches(selector: LabelSelector, labels: dict[str, str]) -> bool:
    return compile_selector(selector.to_k8s()).matches(labels)


def test_parse_machineconfigpool_and_selector() -> None:
    mcp = MachineConfigPool.from_k8s(load(MCP_YAML))
    assert mcp.spec.configuration.name == "rendered-worker-8c1d0e3f7a"
    assert mcp.status.configuration.name == "rendered-worker-8c1d0e3f7a"
    assert mcp.spec.paused is False
    assert mcp.metadata.annotations[ARCHITECTURES_ANNOTATION] == "amd64,arm64"
    degraded = mcp.status.get_condition(MachineConfigPoolConditionType.IMAGE_BUILD_DEGRADED)
    assert degraded is not None and not degraded.is_true
    assert degraded.reason == ImageBuildDegradedReason.BUILD_SUCCESS
    render = mcp.status.get_condition("RenderDegraded")
    assert render is not None and render.last_transition_time is None

    worker = {"node-role.kubernetes.io/worker": "", "kubernetes.io/arch": "arm64"}
    assert selects(mcp, worker)
    assert not selects(mcp, {**worker, "kubernetes.io/arch": "s390x"})  # In
    assert not selects(mcp, {**worker, "node.kubernetes.io/exclude": "x"})  # DoesNotExist
    assert not selects(mcp, {"kubernetes.io/arch": "arm64"})  # matchLabels


def test_label_selector_semantics_follow_kubernetes() -> None:
    no_selector = MachineConfigPool.from_k8s({"metadata": {"name": "p"}, "spec": {}})
    assert not selects(no_selector, {"a": "b"})  # nil selector: nothing
    everything = MachineConfigPool.from_k8s(
        {"metadata": {"name": "p"}, "spec": {"nodeSelector": {}}}
    )
    assert selects(everything, {}) and selects(everything, {"a": "b"})  # empty: everything
    selector = LabelSelector.from_k8s(
        {
            "matchExpressions": [
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "gpu", "operator": "Exists"},
            ]
        }
    )
    assert matches(selector, {"gpu": "1"})  # NotIn matches an absent key
    assert matches(selector, {"gpu": "", "zone": "b"})
    assert not matches(selector, {"gpu": "1", "zone": "a"})
    assert not matches(selector, {"zone": "b"})


def test_parse_machineconfig() -> None:
    mc = MachineConfig.from_k8s(load(MC_YAML))
    assert mc.spec.os_image_url.startswith("quay.io/openshift-release-dev/ocp-v4.0-art-dev@")
    assert mc.spec.base_os_extensions_container_image.endswith(DIGEST_B)


def test_from_k8s_accepts_any_mapping() -> None:
    body = load(MOSC_YAML)
    proxied = MappingProxyType({**body, "spec": MappingProxyType(body["spec"])})
    assert MachineOSConfig.from_k8s(proxied) == MachineOSConfig.from_k8s(body)


# ----------------------------------------------------------------------------------------
# Round trip, apiVersion/kind, immutability, output shape
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "text", "unmodelled"),
    [
        (MachineOSConfig, MOSC_YAML, ["metadata.managedFields"]),
        (MachineOSBuild, MOSB_YAML, []),
        (
            MachineConfigPool,
            MCP_YAML,
            [
                "spec.maxUnavailable",
                "spec.configuration.source",
                "status.configuration.source",
                "status.machineCount",
                "status.readyMachineCount",
                "status.updatedMachineCount",
                "status.unavailableMachineCount",
                "status.degradedMachineCount",
                "status.conditions.2.lastTransitionTime",  # null: left out on output
            ],
        ),
        (
            MachineConfig,
            MC_YAML,
            [
                "spec.config",
                "spec.extensions",
                "spec.fips",
                "spec.kernelArguments",
                "spec.kernelType",
            ],
        ),
    ],
)
def test_round_trip(cls: type[MachineOSConfig], text: str, unmodelled: list[str]) -> None:
    original = load(text)
    parsed = cls.from_k8s(original)
    out = parsed.to_k8s()
    assert out == without(original, *unmodelled)
    assert list(out)[:2] == ["apiVersion", "kind"]
    assert cls.from_k8s(out) == parsed
    json.dumps(out)  # JSON-ready


def test_type_meta_is_checked_and_always_written() -> None:
    body = load(MOSB_YAML)
    bare = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    out = MachineOSBuild.from_k8s(bare).to_k8s()
    assert (out["apiVersion"], out["kind"]) == (API_VERSION, "MachineOSBuild")
    message = errors_of(lambda: MachineOSConfig.from_k8s(body))
    assert "expected kind MachineOSConfig, got 'MachineOSBuild'" in message
    message = errors_of(
        lambda: MachineOSBuild.from_k8s(
            {**body, "apiVersion": "machineconfiguration.openshift.io/v2"}
        )
    )
    assert "expected apiVersion machineconfiguration.openshift.io/v1 for MachineOSBuild" in message


def test_models_are_frozen() -> None:
    mosc = MachineOSConfig.from_k8s(load(MOSC_YAML))
    with pytest.raises(ValidationError, match="frozen"):
        mosc.spec.rendered_image_push_spec = "quay.io/x/y:z"  # type: ignore[misc]


def test_constructed_object_omits_defaulted_empties_but_keeps_explicit_ones() -> None:
    mosb = MachineOSBuild(
        metadata=ObjectMeta(name="worker-1", labels={TARGET_MACHINE_CONFIG_POOL_LABEL: "worker"}),
        spec=MachineOSBuildSpec(
            machine_config=MachineConfigReference(name="rendered-worker-1"),
            machine_os_config=MachineOSConfigReference(name="worker"),
            rendered_image_push_spec="quay.io/org/os:worker-1",
        ),
    )
    assert mosb.to_k8s() == {
        "apiVersion": API_VERSION,
        "kind": "MachineOSBuild",
        "metadata": {"name": "worker-1", "labels": {TARGET_MACHINE_CONFIG_POOL_LABEL: "worker"}},
        "spec": {
            "machineConfig": {"name": "rendered-worker-1"},
            "machineOSConfig": {"name": "worker"},
            "renderedImagePushSpec": "quay.io/org/os:worker-1",
        },
    }
    cleared = mosb.model_copy(update={"status": MachineOSBuildStatus(conditions=())})
    assert cleared.to_k8s()["status"] == {"conditions": []}


def test_times_are_normalised_to_utc_and_must_be_aware() -> None:
    local = datetime(2025, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    condition = Condition(
        type="Building", status="True", reason="Building", message="", last_transition_time=local
    )
    assert condition.last_transition_time.tzinfo is UTC
    assert condition.to_k8s()["lastTransitionTime"] == "2025-01-01T10:00:00Z"
    message = errors_of(
        lambda: Condition(
            type="Building",
            status="True",
            reason="Building",
            message="",
            last_transition_time=datetime(2025, 1, 1),
        )
    )
    assert message == "last_transition_time: Input should have timezone info"
    from_yaml = {
        "type": "Building",
        "status": "True",
        "reason": "Building",
        "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00",
    }
    assert errors_of(lambda: Condition.from_k8s(from_yaml)) == (
        "lastTransitionTime: Input should have timezone info"
    )


# ----------------------------------------------------------------------------------------
# Upstream constants
# ----------------------------------------------------------------------------------------


def test_upstream_strings() -> None:
    assert API_VERSION == "machineconfiguration.openshift.io/v1"
    assert CURRENT_MACHINE_OS_BUILD_ANNOTATION == (
        "machineconfiguration.openshift.io/current-machine-os-build"
    )
    assert REBUILD_ANNOTATION == "machineconfiguration.openshift.io/rebuild"
    assert TARGET_MACHINE_CONFIG_POOL_LABEL == (
        "machineconfiguration.openshift.io/target-machine-config-pool"
    )
    assert (
        RENDERED_MACHINE_CONFIG_LABEL == "machineconfiguration.openshift.io/rendered-machine-config"
    )
    assert MACHINE_OS_CONFIG_LABEL == "machineconfiguration.openshift.io/machine-os-config"
    assert [p.value for p in BuildProgress] == [
        "Prepared",
        "Building",
        "Failed",
        "Interrupted",
        "Succeeded",
    ]
    assert MachineConfigPoolConditionType.IMAGE_BUILD_DEGRADED.value == "ImageBuildDegraded"
    assert {r.value for r in ImageBuildDegradedReason} >= {
        "BuildFailed",
        "BuildSuccess",
        "Building",
    }
    assert (MachineOSConfig.PLURAL, MachineOSBuild.PLURAL) == (
        "machineosconfigs",
        "machineosbuilds",
    )


# ----------------------------------------------------------------------------------------
# Architecture enum mapping
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_value", "label_value"),
    [("AMD64", "amd64"), ("ARM64", "arm64"), ("PPC64LE", "ppc64le"), ("S390X", "s390x")],
)
def test_containerfile_arch_maps_to_kube_arch(api_value: str, label_value: str) -> None:
    arch = ContainerfileArch(api_value)
    assert arch.kube_arch == label_value
    assert arch.kube_arch is KubeArch(label_value)
    assert ContainerfileArch.from_kube_arch(label_value) is arch
    assert KubeArch(label_value).containerfile_arch is arch


def test_noarch_and_unknown_architectures() -> None:
    assert ContainerfileArch.NO_ARCH.kube_arch is None
    assert {a.value for a in ContainerfileArch} == {"AMD64", "ARM64", "PPC64LE", "S390X", "NoArch"}
    for bad in ("x86_64", "riscv64", "AMD64", "NoArch", ""):
        with pytest.raises(ValueError, match="has no containerfileArch value"):
            ContainerfileArch.from_kube_arch(bad)


# ----------------------------------------------------------------------------------------
# Validation rules and their messages
# ----------------------------------------------------------------------------------------


MODELS: dict[str, type[MachineOSConfig] | type[MachineOSBuild]] = {
    "MachineOSConfig": MachineOSConfig,
    "MachineOSBuild": MachineOSBuild,
}
REALISTIC = {"MachineOSConfig": MOSC_YAML, "MachineOSBuild": MOSB_YAML}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validation_rules(case: Case) -> None:
    """The table shared with the real CRDs (tests/integration/test_crds.py), each case
    applied to a realistic object: accepted as given, or refused saying why."""
    model = MODELS[case.kind]
    body = case.edited(load(REALISTIC[case.kind]))
    if case.valid:
        case.kept(model.from_k8s(body).to_k8s())
        return
    message = errors_of(lambda: model.from_k8s(body))
    if case.model_is is not None:
        assert message == case.model_is
    if case.model_starts is not None:
        assert message.startswith(case.model_starts), message
    for text in case.model_has:
        assert text in message, message


@pytest.mark.parametrize("spec", VALID_PUSH_SPECS)
def test_valid_push_specs(spec: str) -> None:
    assert validate_image_tag_format(spec) == spec


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("quay.io/o/i:latest", "it has no '@sha256:<digest>' suffix"),
        ("quay.io/o/i@sha256:" + "A" * 64, "is not 'sha256:' followed by 64 lowercase hex"),
        ("quay.io/o/i@sha512:" + "a" * 64, "is not 'sha256:' followed by 64 lowercase hex"),
        (f"quay.io/o/i@@{DIGEST_A}", "it contains more than one '@'"),
        (f"quay.io/a/b/i@{DIGEST_A}", "has 2 namespace levels; at most one"),
        (f"localhost:5000/o/i@{DIGEST_A}", "the registry host 'localhost'"),
    ],
)
def test_invalid_digested_specs(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match="is not a valid digested pull spec") as info:
        validate_image_digest_format(spec)
    assert problem in str(info.value)


def test_digested_spec_validator_accepts_a_digested_spec() -> None:
    assert validate_image_digest_format(f"{REGISTRY}/os-image@{DIGEST_A}")


@pytest.mark.parametrize(
    ("requirement", "problem"),
    [
        ({"key": "a", "operator": "In", "values": []}, "operator In needs at least one value"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "operator Exists takes no values"),
        ({"key": "a", "operator": "Gt", "values": ["1"]}, "Input should be 'In', 'NotIn'"),
    ],
)
def test_label_selector_requirement_rules(requirement: dict[str, Any], problem: str) -> None:
    body = load(MCP_YAML)
    body["spec"]["nodeSelector"]["matchExpressions"] = [requirement]
    assert problem in errors_of(lambda: MachineConfigPool.from_k8s(body))


def test_describe_validation_error_lists_every_problem() -> None:
    body = mosc_dict(
        renderedImagePushSpec="quay.io/x",
        imageBuilder={"imageBuilderType": "Pod"},
        containerFile=[containerfile_entry("NoArch", "{not a template}" * 300)],
    )
    lines = errors_of(lambda: MachineOSConfig.from_k8s(body)).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "spec.imageBuilder.imageBuilderType",
        "spec.renderedImagePushSpec",
        "spec.containerFile[0]",
    ]
    assert "4800 characters long" in lines[2]  # braces in input are not a format template


# ----------------------------------------------------------------------------------------
# Extension annotations
# ----------------------------------------------------------------------------------------


def test_extension_annotation_keys() -> None:
    assert ARCHITECTURES_ANNOTATION == "mosb-controller.io/architectures"
    assert ARCH_BUILDS_ANNOTATION == "mosb-controller.io/arch-builds"
    assert ARCH_DIGESTS_ANNOTATION == "mosb-controller.io/arch-digests"
    assert RETRY_FAILED_ANNOTATION == "mosb-controller.io/retry-failed"


T0 = datetime(2025, 3, 4, 10, 12, 5, tzinfo=UTC)


def _amd64_succeeded() -> ArchBuildRecord:
    return ArchBuildRecord(
        arch="amd64",
        key="3f2a9c",
        job="build-worker-5b7f2d9c1e-amd64",
        phase=ArchBuildPhase.SUCCEEDED,
        digest=DIGEST_A,
        image=f"{REGISTRY}/os-image@{DIGEST_A}",
        start=T0,
        end=T0 + timedelta(minutes=19),
    )


def _arm64_reused() -> ArchBuildRecord:
    return ArchBuildRecord(
        arch="arm64",
        key="77b01e",
        phase=ArchBuildPhase.REUSED,
        digest=DIGEST_B,
        reused_from="worker-0a1b2c3d4e",
    )


def test_arch_builds_encoding_is_compact_sorted_camel_case() -> None:
    encoded = encode_arch_builds({"arm64": _arm64_reused(), "amd64": _amd64_succeeded()})
    assert encoded == (
        '{"amd64":{"arch":"amd64","digest":"' + DIGEST_A + '","end":"2025-03-04T10:31:05Z",'
        '"image":"' + f"{REGISTRY}/os-image@{DIGEST_A}" + '","job":"build-worker-5b7f2d9c1e-amd64",'
        '"key":"3f2a9c","phase":"Succeeded","start":"2025-03-04T10:12:05Z"},'
        '"arm64":{"arch":"arm64","digest":"' + DIGEST_B + '","key":"77b01e","phase":"Reused",'
        '"reusedFrom":"worker-0a1b2c3d4e"}}'
    )
    decoded = decode_arch_builds(encoded)
    assert decoded == {"amd64": _amd64_succeeded(), "arm64": _arm64_reused()}
    assert list(decoded) == ["amd64", "arm64"]


def test_arch_builds_encoding_is_deterministic_across_timezones_and_order() -> None:
    plus_two = timezone(timedelta(hours=2))
    shifted = ArchBuildRecord.model_validate(
        {**_amd64_succeeded().model_dump(), "start": T0.astimezone(plus_two)}
    )
    assert shifted == _amd64_succeeded()
    a = encode_arch_builds({"amd64": shifted, "arm64": _arm64_reused()})
    b = encode_arch_builds({"arm64": _arm64_reused(), "amd64": _amd64_succeeded()})
    assert a == b


def test_decode_tolerates_missing_arch_and_unknown_fields() -> None:
    text = json.dumps({"s390x": {"key": "k", "phase": "Waiting", "futureField": 1}})
    record = decode_arch_builds(text)["s390x"]
    assert (record.arch, record.phase) == ("s390x", ArchBuildPhase.WAITING)
    assert decode_arch_builds(None) == {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "the value is empty; expected a JSON object"),
        ("{amd64: 1}", "not valid JSON (Expecting property name enclosed in double quotes"),
        ('["amd64"]', "expected a JSON object keyed by architecture, got list"),
        ('{"amd64": "Succeeded"}', "entry 'amd64': expected a JSON object, got str"),
        ('{"AMD64": {"key": "k", "phase": "Pending"}}', "'AMD64' is not an architecture"),
        (
            '{"amd64": {"arch": "arm64", "key": "k", "phase": "Pending"}}',
            "entry 'amd64' holds the record of arch 'arm64'",
        ),
        (
            '{"amd64": {"key": "k", "phase": "Done"}}',
            "entry 'amd64': phase: Input should be 'Pending', 'Waiting', 'Building'",
        ),
        ('{"amd64": {"phase": "Pending"}}', "entry 'amd64': key: Field required"),
        (
            '{"amd64": {"key": "k", "phase": "Succeeded", "digest": "sha256:abc"}}',
            "entry 'amd64': digest: 'sha256:abc' is not an image digest",
        ),
        (
            '{"amd64": {"key": "k", "phase": "Succeeded"}}',
            "amd64 build record: phase Succeeded needs the image digest",
        ),
        (
            '{"amd64": {"key": "k", "phase": "Pending"}, "amd64": {"key": "k", "phase": "Failed"}}',
            "key 'amd64' appears more than once",
        ),
        (
            '{"amd64": {"key": "k", "phase": "Failed", "start": "2025-01-01T00:00:00"}}',
            "entry 'amd64': start: Input should have timezone info",
        ),
    ],
)
def test_decode_arch_builds_rejects_malformed(value: str, problem: str) -> None:
    with pytest.raises(AnnotationError) as info:
        decode_arch_builds(value)
    message = str(info.value)
    assert message.startswith("annotation mosb-controller.io/arch-builds is malformed: ")
    assert problem in message
    assert info.value.annotation == ARCH_BUILDS_ANNOTATION


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"phase": "Reused", "digest": DIGEST_A}, "phase Reused needs reusedFrom"),
        (
            {"phase": "Failed", "reused_from": "worker-1"},
            "reusedFrom is only allowed in phase Reused",
        ),
        (
            {"phase": "Succeeded", "digest": DIGEST_A, "image": f"quay.io/o/i@{DIGEST_B}"},
            "is not by digest",
        ),
        (
            {"phase": "Building", "image": f"quay.io/o/i@{DIGEST_B}"},
            "image is set but digest is not",
        ),
        ({"phase": "Failed", "start": T0, "end": T0 - timedelta(seconds=1)}, "is before start"),
        ({"phase": "Building", "job": "Build_amd64"}, "job: 'Build_amd64' is not valid"),
    ],
)
def test_arch_build_record_consistency(fields: dict[str, Any], problem: str) -> None:
    message = errors_of(
        lambda: ArchBuildRecord.model_validate({"arch": "amd64", "key": "k", **fields})
    )
    assert problem in message


def test_encode_arch_builds_refuses_misfiled_record() -> None:
    with pytest.raises(ValueError, match="arch build record for 'amd64' is filed under 'arm64'"):
        encode_arch_builds({"arm64": _amd64_succeeded()})


def malformed(decode: Callable[[str], object], value: str, annotation: str) -> str:
    """The message of the AnnotationError `decode` raises for `value`."""
    with pytest.raises(AnnotationError, match=f"{annotation} is malformed") as info:
        decode(value)
    return str(info.value)


def test_arch_digests_codec() -> None:
    encoded = encode_arch_digests({"arm64": DIGEST_B, "amd64": DIGEST_A})
    assert encoded == f'{{"amd64":"{DIGEST_A}","arm64":"{DIGEST_B}"}}'
    assert decode_arch_digests(encoded) == {"amd64": DIGEST_A, "arm64": DIGEST_B}
    assert decode_arch_digests(None) == {}
    with pytest.raises(ValueError, match="is not an image digest"):
        encode_arch_digests({"amd64": "sha256:short"})
    for bad, problem in [
        ('{"amd64": 1}', "entry 'amd64': expected a digest string, got int"),
        ('{"amd64": "latest"}', "entry 'amd64': 'latest' is not an image digest"),
        ("sha256:abc", "not valid JSON"),
    ]:
        assert problem in malformed(decode_arch_digests, bad, "arch-digests")


def test_architectures_codec() -> None:
    assert encode_architectures(["arm64", "amd64", "arm64"]) == "amd64,arm64"
    assert encode_architectures([]) == ""
    assert decode_architectures("amd64,arm64") == ("amd64", "arm64")
    assert decode_architectures("s390x, amd64") == ("amd64", "s390x")
    assert decode_architectures("") == () and decode_architectures(None) == ()
    for bad, problem in [
        ("amd64,,arm64", "has an empty item"),
        ("amd64,amd64", "'amd64' appears more than once"),
        ("amd64;arm64", "'amd64;arm64' is not an architecture"),
    ]:
        assert problem in malformed(decode_architectures, bad, "architectures")
    with pytest.raises(ValueError, match="'X86' is not an architecture"):
        encode_architectures(["X86"])


# ----------------------------------------------------------------------------------------
# Property-based: codec round trip, push spec structure
# ----------------------------------------------------------------------------------------

ARCHES = st.sampled_from(["amd64", "arm64", "ppc64le", "s390x", "riscv64", "mips64le"])
NAMES = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20)
DIGESTS = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(
    lambda h: f"sha256:{h}"
)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
TEXT = st.text(max_size=80)


@st.composite
def arch_records(draw: st.DrawFn, arch: str) -> ArchBuildRecord:
    phase = draw(st.sampled_from(list(ArchBuildPhase)))
    digest = draw(DIGESTS) if phase.has_image else draw(st.none() | DIGESTS)
    image = None if digest is None else draw(st.none() | st.just(f"{REGISTRY}/os-image@{digest}"))
    start = draw(st.none() | TIMES)
    end = (
        None
        if start is None
        else draw(st.none() | st.just(start + draw(st.timedeltas(timedelta(0), timedelta(days=2)))))
    )
    return ArchBuildRecord(
        arch=arch,
        key=draw(st.text(min_size=1, max_size=64)),
        job=draw(st.none() | NAMES),
        phase=phase,
        digest=digest,
        image=image,
        reused_from=draw(NAMES) if phase is ArchBuildPhase.REUSED else None,
        start=start,
        end=end,
        reason=draw(st.none() | TEXT),
        message=draw(st.none() | TEXT),
    )


@st.composite
def record_maps(draw: st.DrawFn) -> dict[str, ArchBuildRecord]:
    arches = draw(st.lists(ARCHES, unique=True, max_size=6))
    return {arch: draw(arch_records(arch)) for arch in arches}


@given(record_maps(), st.randoms())
@settings(max_examples=200)
def test_arch_builds_codec_round_trip(records: dict[str, ArchBuildRecord], rnd: Any) -> None:
    encoded = encode_arch_builds(records)
    decoded = decode_arch_builds(encoded)
    assert decoded == records
    assert encode_arch_builds(decoded) == encoded  # canonical
    shuffled = list(records.items())
    rnd.shuffle(shuffled)
    assert encode_arch_builds(dict(shuffled)) == encoded  # insertion order is irrelevant
    assert json.loads(encoded) == {a: r.to_k8s() for a, r in records.items()}


@given(st.dictionaries(ARCHES, DIGESTS))
def test_arch_digests_codec_round_trip(digests: dict[str, str]) -> None:
    assert decode_arch_digests(encode_arch_digests(digests)) == digests


@given(st.lists(ARCHES))
def test_architectures_codec_round_trip(arches: list[str]) -> None:
    encoded = encode_architectures(arches)
    assert decode_architectures(encoded) == tuple(sorted(set(arches)))
    assert encode_architectures(reversed(arches)) == encoded


HOST_LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12)
PATH_PART = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=61)


@given(
    st.lists(HOST_LABEL, min_size=2, max_size=4),
    st.none() | st.integers(10, 65535),
    st.lists(PATH_PART, max_size=3),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=30),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=30),
)
def test_structurally_valid_push_specs_are_accepted(
    host: list[str], port: int | None, namespaces: list[str], name: str, tag: str
) -> None:
    spec = ".".join(host) + (f":{port}" if port else "") + "".join(f"/{n}" for n in namespaces)
    spec += f"/{name}:{tag}"
    if len(spec) <= 447:
        assert validate_image_tag_format(spec) == spec


@given(st.text(max_size=60))
def test_push_spec_validator_only_raises_value_errors(spec: str) -> None:
    try:
        validate_image_tag_format(spec)
    except ValueError as exc:
        assert str(exc)
