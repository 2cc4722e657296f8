"""The CRDs in manifests/crds behave as openshift/api machineconfiguration.openshift.io/v1.

Every test runs against a real kube-apiserver (fixture `api_client` in tests/conftest.py)
and asserts what the server does: OpenAPI validation, defaulting, pruning, the CEL rules
with upstream's messages, and the printer columns. The controller relies on these
behaviours (e.g. that undeclared status fields vanish), so they are checked here rather
than assumed.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from kubernetes.client import ApiClient, ApiException, CustomObjectsApi

GROUP = "machineconfiguration.openshift.io"
VERSION = "v1"
MOSC = "machineosconfigs"
MOSB = "machineosbuilds"
MCP = "machineconfigpools"
MC = "machineconfigs"

Obj = dict[str, Any]

T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-01T00:05:00Z"
T2 = "2025-01-01T00:10:00Z"
DIGEST = "sha256:" + "ab" * 32

# Upstream's messages (openshift/api machineconfiguration/v1, see manifests/crds/*.yaml).
MSG_MOSC_NAME = (
    "MachineOSConfig name must match the referenced MachineConfigPool name; "
    "can only have one MachineOSConfig per MachineConfigPool"
)
MSG_PUSH_SPEC = (
    "the OCI Image name should follow the host[:port][/namespace]/name format, resembling "
    "a valid URL without the scheme. Or it must be a valid .svc followed by a port, "
    "repository, image name, and tag."
)
MSG_DIGEST_SUFFIX = (
    "the OCI Image reference must end with a valid '@sha256:<digest>' suffix, "
    "where '<digest>' is 64 characters long"
)
MSG_MOSB_SPEC_IMMUTABLE = "machineOSBuildSpec is immutable once set"
MSG_CONDITIONS_IMMUTABLE = {
    "Succeeded": "once an Succeeded condition is set, conditions are immutable",
    "Failed": "once a Failed condition is set, conditions are immutable",
    "Interrupted": "once an Interrupted condition is set, conditions are immutable",
}
MSG_OBSERVED_GENERATION = "observedGeneration must not move backwards"
MSG_BUILD_END = "buildEnd must be after buildStart"
MSG_JOB_REQUIRED = "job is required when imageBuilderType is Job, and forbidden otherwise"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Kube:
    """Cluster-scoped custom objects of our group; deletes what it created on cleanup."""

    def __init__(self, api: CustomObjectsApi) -> None:
        self.api = api
        self.created: list[tuple[str, str]] = []

    def create(self, plural: str, body: Obj) -> Obj:
        name = str(body["metadata"]["name"])
        # Registered first: a create the test expects to fail may still succeed.
        self.created.append((plural, name))
        self.api.create_cluster_custom_object(GROUP, VERSION, plural, body)
        return self.get(plural, name)

    def get(self, plural: str, name: str) -> Obj:
        return cast(Obj, self.api.get_cluster_custom_object(GROUP, VERSION, plural, name))

    def patch(self, plural: str, name: str, merge_patch: Obj) -> Obj:
        return cast(
            Obj, self.api.patch_cluster_custom_object(GROUP, VERSION, plural, name, merge_patch)
        )

    def replace_status(self, plural: str, obj: Obj) -> Obj:
        """PUT the whole object to the status subresource (only .status is taken)."""
        return cast(
            Obj,
            self.api.replace_cluster_custom_object_status(
                GROUP, VERSION, plural, obj["metadata"]["name"], obj
            ),
        )

    def set_status(self, plural: str, name: str, status: Obj) -> Obj:
        obj = self.get(plural, name)
        obj["status"] = status
        return self.replace_status(plural, obj)

    def cleanup(self) -> None:
        for plural, name in reversed(self.created):
            try:
                self.api.delete_cluster_custom_object(GROUP, VERSION, plural, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture
def kube(api_client: ApiClient) -> Iterator[Kube]:
    k = Kube(CustomObjectsApi(api_client))
    yield k
    k.cleanup()


def rejected(call: Callable[[], object], *expected: str) -> str:
    """Run `call`, expect a 422 Invalid, and that its message holds every `expected` text."""
    with pytest.raises(ApiException) as info:
        call()
    exc = info.value
    assert exc.status == 422, f"expected 422 Invalid, got {exc.status}: {exc.body!r}"
    message = str(json.loads(exc.body or "{}").get("message", ""))
    for text in expected:
        assert text in message, f"{text!r} not in server message {message!r}"
    return message


# --- sample objects ---------------------------------------------------------------------


def mosc_body(name: str, pool: str | None = None, **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MachineOSConfig",
        "metadata": {"name": name},
        "spec": {
            "machineConfigPool": {"name": pool if pool is not None else name},
            "imageBuilder": {"imageBuilderType": "Job"},
            "baseImagePullSecret": {"name": "base-pull-secret"},
            "renderedImagePushSecret": {"name": "push-secret"},
            "renderedImagePushSpec": "registry.example.com:5000/ocl/os-image:latest",
            "containerFile": [
                {"containerfileArch": "NoArch", "content": "FROM configs AS final\n"},
                {"containerfileArch": "ARM64", "content": "FROM configs AS final\nRUN true\n"},
            ],
        },
    }
    body["spec"].update(spec)
    return body


def mosb_body(name: str, mosc: str, **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MachineOSBuild",
        "metadata": {
            "name": name,
            "labels": {
                f"{GROUP}/target-machine-config-pool": mosc,
                f"{GROUP}/rendered-machine-config": "rendered-worker-0123456789abcdef",
                f"{GROUP}/machine-os-config": mosc,
            },
        },
        "spec": {
            "machineConfig": {"name": "rendered-worker-0123456789abcdef"},
            "machineOSConfig": {"name": mosc},
            "renderedImagePushSpec": f"registry.example.com:5000/ocl/os-image:{name}",
        },
    }
    body["spec"].update(spec)
    return body


def mcp_body(name: str) -> Obj:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MachineConfigPool",
        "metadata": {"name": name},
        "spec": {
            "machineConfigSelector": {
                "matchExpressions": [
                    {
                        "key": f"{GROUP}/role",
                        "operator": "In",
                        "values": ["worker", name],
                    }
                ]
            },
            "nodeSelector": {"matchLabels": {f"node-role.kubernetes.io/{name}": ""}},
            "configuration": {"name": f"rendered-{name}-0123456789abcdef"},
            "maxUnavailable": "10%",
            "paused": False,
        },
    }


def mc_body(name: str) -> Obj:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MachineConfig",
        "metadata": {"name": name, "labels": {f"{GROUP}/role": "worker"}},
        "spec": {
            "osImageURL": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + DIGEST,
            "config": {
                "ignition": {"version": "3.4.0"},
                "storage": {"files": [{"path": "/etc/motd", "mode": 420}]},
            },
            "kernelArguments": ["nosmt"],
            "extensions": ["usbguard"],
            "fips": False,
            "kernelType": "default",
        },
    }


def condition(ctype: str, status: str = "True", reason: str | None = None) -> Obj:
    return {
        "type": ctype,
        "status": status,
        "reason": reason or ctype,
        "message": f"{ctype} is {status}",
        "lastTransitionTime": T0,
    }


def job_ref(name: str) -> Obj:
    return {
        "group": "batch",
        "resource": "jobs",
        "namespace": "mosb-controller",
        "name": name,
    }


# --- 1. valid objects ---------------------------------------------------------------------


def test_valid_machineosconfig_is_accepted(kube: Kube) -> None:
    name = unique("pool")
    body = mosc_body(name)
    got = kube.create(MOSC, body)
    assert got["spec"] == body["spec"]

    status: Obj = {
        "observedGeneration": 1,
        "currentImagePullSpec": f"registry.example.com:5000/ocl/os-image@{DIGEST}",
        "machineOSBuild": {"group": GROUP, "resource": MOSB, "name": f"{name}-abc"},
        "conditions": [condition("Seeded")],
    }
    got = kube.set_status(MOSC, name, status)
    assert got["status"] == status


def test_valid_machineosbuild_is_accepted(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    body = mosb_body(name, mosc)
    got = kube.create(MOSB, body)
    assert got["spec"] == body["spec"]

    status: Obj = {
        "conditions": [
            condition("Prepared", "False"),
            condition("Building", "True"),
            condition("Succeeded", "False"),
            condition("Failed", "False"),
            condition("Interrupted", "False"),
        ],
        "builder": {"imageBuilderType": "Job", "job": job_ref(f"build-{name}")},
        "relatedObjects": [
            job_ref(f"build-{name}-amd64"),
            job_ref(f"build-{name}-arm64"),
            # group "" is rejected (see test_object_reference_group_may_not_be_empty)
            {"group": "core", "resource": "configmaps", "namespace": "mosb", "name": f"mc-{name}"},
        ],
        "buildStart": T0,
    }
    got = kube.set_status(MOSB, name, status)
    assert got["status"] == status

    status = copy.deepcopy(status)
    status["buildEnd"] = T1
    status["digestedImagePushSpec"] = f"registry.example.com:5000/ocl/os-image@{DIGEST}"
    status["conditions"][1] = condition("Building", "False")
    status["conditions"][2] = condition("Succeeded", "True")
    got = kube.set_status(MOSB, name, status)
    assert got["status"] == status


def test_valid_machineconfigpool_and_machineconfig_are_accepted(kube: Kube) -> None:
    pool = unique("pool")
    body = mcp_body(pool)
    got = kube.create(MCP, body)
    assert got["spec"] == body["spec"]
    status: Obj = {
        "observedGeneration": 1,
        "configuration": {"name": f"rendered-{pool}-0123456789abcdef"},
        "machineCount": 3,
        "readyMachineCount": 3,
        "updatedMachineCount": 3,
        "unavailableMachineCount": 0,
        "degradedMachineCount": 0,
        "conditions": [
            {"type": "Updated", "status": "True", "lastTransitionTime": T0},
            {
                "type": "ImageBuildDegraded",
                "status": "False",
                "reason": "BuildSuccess",
                "message": "",
                "lastTransitionTime": T0,
            },
        ],
    }
    got = kube.set_status(MCP, pool, status)
    assert got["status"] == status

    mc = unique("rendered-worker")
    body = mc_body(mc)
    got = kube.create(MC, body)
    assert got["spec"] == body["spec"]


def test_machineconfig_keeps_unknown_ignition_fields_and_prunes_the_rest(kube: Kube) -> None:
    name = unique("99-worker")
    body = mc_body(name)
    body["spec"]["config"]["passwd"] = {"users": [{"name": "core", "sshAuthorizedKeys": ["k"]}]}
    body["spec"]["notAField"] = "dropped"
    got = kube.create(MC, body)
    assert got["spec"]["config"] == body["spec"]["config"]
    assert "notAField" not in got["spec"]


# --- 2. MOSC name must match its pool -------------------------------------------------------


def test_mosc_name_must_match_pool_name(kube: Kube) -> None:
    name = unique("pool")
    rejected(lambda: kube.create(MOSC, mosc_body(name, pool="worker")), MSG_MOSC_NAME)


def test_mosc_pool_cannot_be_changed_to_another(kube: Kube) -> None:
    name = unique("pool")
    kube.create(MOSC, mosc_body(name))
    rejected(
        lambda: kube.patch(MOSC, name, {"spec": {"machineConfigPool": {"name": "worker"}}}),
        MSG_MOSC_NAME,
    )


# --- 3. containerFile list --------------------------------------------------------------------


def test_containerfile_at_most_four_entries(kube: Kube) -> None:
    name = unique("pool")
    files = [
        {"containerfileArch": arch, "content": "FROM configs\n"}
        for arch in ("ARM64", "AMD64", "PPC64LE", "S390X", "NoArch")
    ]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=files)),
        "spec.containerFile",
        "must have at most 4 items",
    )
    # Four distinct architectures are fine.
    got = kube.create(MOSC, mosc_body(name, containerFile=files[:4]))
    assert [f["containerfileArch"] for f in got["spec"]["containerFile"]] == [
        "ARM64",
        "AMD64",
        "PPC64LE",
        "S390X",
    ]


def test_containerfile_arch_is_a_list_map_key(kube: Kube) -> None:
    name = unique("pool")
    files = [
        {"containerfileArch": "AMD64", "content": "FROM configs\n"},
        {"containerfileArch": "AMD64", "content": "FROM configs\nRUN true\n"},
    ]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=files)),
        "spec.containerFile[1]",
        "Duplicate value",
        '"containerfileArch":"AMD64"',
    )


def test_containerfile_duplicate_after_defaulting_is_rejected(kube: Kube) -> None:
    # An entry without an arch defaults to NoArch before the list-map key is checked.
    name = unique("pool")
    files = [
        {"containerfileArch": "NoArch", "content": "FROM configs\n"},
        {"content": "FROM configs\nRUN true\n"},
    ]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=files)),
        "Duplicate value",
        '"containerfileArch":"NoArch"',
    )


def test_containerfile_arch_enum(kube: Kube) -> None:
    name = unique("pool")
    files = [{"containerfileArch": "RISCV64", "content": "FROM configs\n"}]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=files)),
        "spec.containerFile[0].containerfileArch",
        'Unsupported value: "RISCV64"',
        '"ARM64", "AMD64", "PPC64LE", "S390X", "NoArch"',
    )


def test_containerfile_content_max_4096(kube: Kube) -> None:
    name = unique("pool")
    too_long = [{"containerfileArch": "NoArch", "content": "x" * 4097}]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=too_long)),
        "spec.containerFile[0].content",
        "Too long",
        "4096",
    )
    at_limit = [{"containerfileArch": "NoArch", "content": "x" * 4096}]
    got = kube.create(MOSC, mosc_body(name, containerFile=at_limit))
    assert len(got["spec"]["containerFile"][0]["content"]) == 4096


def test_containerfile_content_is_required(kube: Kube) -> None:
    name = unique("pool")
    files = [{"containerfileArch": "NoArch"}]
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, containerFile=files)),
        "spec.containerFile[0].content",
        "Required value",
    )


def test_containerfile_arch_defaults_to_noarch(kube: Kube) -> None:
    name = unique("pool")
    files = [{"content": "FROM configs\n"}]
    got = kube.create(MOSC, mosc_body(name, containerFile=files))
    assert got["spec"]["containerFile"] == [
        {"containerfileArch": "NoArch", "content": "FROM configs\n"}
    ]


def test_containerfile_may_be_omitted(kube: Kube) -> None:
    name = unique("pool")
    body = mosc_body(name)
    del body["spec"]["containerFile"]
    got = kube.create(MOSC, body)
    assert "containerFile" not in got["spec"]


# --- 4. renderedImagePushSpec format ------------------------------------------------------------

VALID_PUSH_SPECS = [
    "quay.io/name:tag",
    "quay.io/org/os-image:latest",
    "registry.example.com:5000/org/os-image:v1.2.3",
    "127.0.0.1:5000/ocl/os-image:latest",
    "quay.io/team/sub/group/os-image:worker-0123abcd",
    "image-registry.openshift-image-registry.svc:5000/openshift-machine-config-operator/os-image:latest",
    "my_svc.ns.svc:5000/repo/name:tag",
]

INVALID_PUSH_SPECS = [
    "quay.io/org/os-image",  # no tag
    "quay.io/org/os-image:",  # empty tag
    f"quay.io/org/os-image@{DIGEST}",  # digest instead of a tag
    "https://quay.io/org/os-image:latest",  # scheme
    "localhost:5000/org/os-image:latest",  # host without a dot (and not .svc)
    "os-image:latest",  # no host
    "quay.io:123456/org/os-image:latest",  # port longer than 5 digits
    "quay.io/org/os image:latest",  # space
    "quay.io/org/os-image:latest/extra",  # path after the tag
]


@pytest.mark.parametrize("spec", VALID_PUSH_SPECS)
def test_rendered_image_push_spec_valid(kube: Kube, spec: str) -> None:
    name = unique("pool")
    got = kube.create(MOSC, mosc_body(name, renderedImagePushSpec=spec))
    assert got["spec"]["renderedImagePushSpec"] == spec


@pytest.mark.parametrize("spec", INVALID_PUSH_SPECS)
def test_rendered_image_push_spec_invalid(kube: Kube, spec: str) -> None:
    name = unique("pool")
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, renderedImagePushSpec=spec)),
        "spec.renderedImagePushSpec",
        MSG_PUSH_SPEC,
    )


def test_rendered_image_push_spec_length(kube: Kube) -> None:
    name = unique("pool")
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, renderedImagePushSpec="")),
        "spec.renderedImagePushSpec",
        "at least 1 chars long",
    )
    long_spec = "quay.io/" + "a" * 440 + ":tag"
    assert len(long_spec) > 447
    rejected(
        lambda: kube.create(MOSC, mosc_body(name, renderedImagePushSpec=long_spec)),
        "spec.renderedImagePushSpec",
        "Too long",
        "447",
    )


def test_mosb_rendered_image_push_spec_format(kube: Kube) -> None:
    name = unique("pool-build")
    rejected(
        lambda: kube.create(MOSB, mosb_body(name, "pool", renderedImagePushSpec="quay.io/x")),
        "spec.renderedImagePushSpec",
        MSG_PUSH_SPEC,
    )


def test_digested_pull_specs_must_carry_a_sha256_digest(kube: Kube) -> None:
    name = unique("pool")
    kube.create(MOSC, mosc_body(name))
    rejected(
        lambda: kube.set_status(
            MOSC, name, {"currentImagePullSpec": "registry.example.com/ocl/os-image:latest"}
        ),
        "status.currentImagePullSpec",
        MSG_DIGEST_SUFFIX,
    )
    build = f"{name}-0123abcd"
    kube.create(MOSB, mosb_body(build, name))
    rejected(
        lambda: kube.set_status(
            MOSB, build, {"digestedImagePushSpec": "registry.example.com/ocl/os@sha256:abc"}
        ),
        "status.digestedImagePushSpec",
        MSG_DIGEST_SUFFIX,
    )


# --- 5. MOSB spec is immutable ------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"renderedImagePushSpec": "registry.example.com:5000/ocl/other:tag"},
        {"machineConfig": {"name": "rendered-worker-fedcba9876543210"}},
        {"machineOSConfig": {"name": "another-pool"}},
    ],
)
def test_mosb_spec_is_immutable(kube: Kube, change: Obj) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    rejected(lambda: kube.patch(MOSB, name, {"spec": change}), MSG_MOSB_SPEC_IMMUTABLE)


def test_mosb_metadata_stays_mutable(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    got = kube.patch(MOSB, name, {"metadata": {"annotations": {"example.com/note": "x"}}})
    assert got["metadata"]["annotations"]["example.com/note"] == "x"


# --- 6. MOSB conditions are frozen once terminal ---------------------------------------------


@pytest.mark.parametrize("terminal", ["Succeeded", "Failed", "Interrupted"])
def test_mosb_conditions_immutable_once_terminal(kube: Kube, terminal: str) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))

    # Until a terminal condition is True, conditions may change freely.
    kube.set_status(MOSB, name, {"conditions": [condition("Prepared", "True")]})
    kube.set_status(
        MOSB,
        name,
        {"conditions": [condition("Prepared", "False"), condition("Building", "True")]},
    )
    final: Obj = {
        "conditions": [
            condition("Prepared", "False"),
            condition("Building", "False"),
            condition(terminal, "True"),
        ],
        "buildStart": T0,
    }
    kube.set_status(MOSB, name, final)

    changed = copy.deepcopy(final)
    changed["conditions"][2]["message"] = "rewritten"
    rejected(lambda: kube.set_status(MOSB, name, changed), MSG_CONDITIONS_IMMUTABLE[terminal])

    reset = copy.deepcopy(final)
    reset["conditions"] = [condition("Building", "True")]
    rejected(lambda: kube.set_status(MOSB, name, reset), MSG_CONDITIONS_IMMUTABLE[terminal])

    # The rest of status may still be filled in, as long as conditions stay as they are.
    done = copy.deepcopy(final)
    done["buildEnd"] = T1
    got = kube.set_status(MOSB, name, done)
    assert got["status"]["buildEnd"] == T1
    assert got["status"]["conditions"] == final["conditions"]


def test_mosb_conditions_at_most_eight(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    conditions = [condition(f"Type{i}", "False") for i in range(9)]
    rejected(
        lambda: kube.set_status(MOSB, name, {"conditions": conditions}),
        "status.conditions",
        "must have at most 8 items",
    )


def test_mosb_build_times(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    rejected(lambda: kube.set_status(MOSB, name, {"buildEnd": T1}), MSG_BUILD_END)
    rejected(lambda: kube.set_status(MOSB, name, {"buildStart": T1, "buildEnd": T0}), MSG_BUILD_END)
    kube.set_status(MOSB, name, {"buildStart": T0})
    rejected(
        lambda: kube.set_status(MOSB, name, {"buildStart": T1}), "buildStart is immutable once set"
    )
    kube.set_status(MOSB, name, {"buildStart": T0, "buildEnd": T1})
    rejected(
        lambda: kube.set_status(MOSB, name, {"buildStart": T0, "buildEnd": T2}),
        "buildEnd is immutable once set",
    )


def test_mosb_builder_job_required_for_job_type(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    rejected(
        lambda: kube.set_status(MOSB, name, {"builder": {"imageBuilderType": "Job"}}),
        MSG_JOB_REQUIRED,
    )


def test_mosb_related_objects_keyed_by_name_and_resource(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    same = job_ref("build-a")
    rejected(
        lambda: kube.set_status(MOSB, name, {"relatedObjects": [same, dict(same)]}),
        "status.relatedObjects[1]",
        "Duplicate value",
    )
    eleven = [job_ref(f"build-{i}") for i in range(11)]
    rejected(
        lambda: kube.set_status(MOSB, name, {"relatedObjects": eleven}),
        "status.relatedObjects",
        "must have at most 10 items",
    )


def test_object_reference_group_may_not_be_empty(kube: Kube) -> None:
    # Upstream's ObjectReference.group is required and must be a DNS-1123 subdomain, so a
    # core-group object cannot be written with group "" (the usual spelling elsewhere).
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    core = {"group": "", "resource": "configmaps", "namespace": "mosb", "name": "cm"}
    rejected(
        lambda: kube.set_status(MOSB, name, {"relatedObjects": [core]}),
        "status.relatedObjects[0].group",
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
    )
    without_group = {k: v for k, v in core.items() if k != "group"}
    rejected(
        lambda: kube.set_status(MOSB, name, {"relatedObjects": [without_group]}),
        "status.relatedObjects[0].group",
        "Required value",
    )


# --- 7. undeclared status fields are pruned -----------------------------------------------------


def test_mosb_undeclared_status_fields_are_pruned(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    building = condition("Building", "True")
    status: Obj = {
        "conditions": [{**building, "architecture": "arm64"}],
        "builder": {
            "imageBuilderType": "Job",
            "job": {**job_ref(f"build-{name}-arm64"), "architecture": "arm64"},
            "jobs": [job_ref(f"build-{name}-amd64")],
        },
        "architectures": {"arm64": {"phase": "Building"}, "amd64": {"phase": "Pending"}},
        "perArchDigests": ["sha256:x"],
    }
    kube.set_status(MOSB, name, status)
    got = kube.get(MOSB, name)["status"]
    assert got == {
        "conditions": [building],
        "builder": {"imageBuilderType": "Job", "job": job_ref(f"build-{name}-arm64")},
    }


def test_mosc_undeclared_status_fields_are_pruned(kube: Kube) -> None:
    name = unique("pool")
    kube.create(MOSC, mosc_body(name))
    status: Obj = {
        "observedGeneration": 1,
        "architectures": ["amd64", "arm64"],
        "machineOSBuild": {"group": GROUP, "resource": MOSB, "name": "b", "kind": "X"},
    }
    kube.set_status(MOSC, name, status)
    got = kube.get(MOSC, name)["status"]
    assert got == {
        "observedGeneration": 1,
        "machineOSBuild": {"group": GROUP, "resource": MOSB, "name": "b"},
    }


def test_mosc_undeclared_spec_fields_are_pruned(kube: Kube) -> None:
    name = unique("pool")
    body = mosc_body(name, architectures=["amd64"])
    got = kube.create(MOSC, body)
    assert "architectures" not in got["spec"]


def test_status_is_a_subresource(kube: Kube) -> None:
    # A write to the main resource ignores .status; only /status changes it.
    name = unique("pool")
    body = mosc_body(name)
    body["status"] = {"observedGeneration": 5}
    got = kube.create(MOSC, body)
    assert "observedGeneration" not in got.get("status", {})
    got = kube.patch(MOSC, name, {"status": {"observedGeneration": 6}})
    assert "observedGeneration" not in got.get("status", {})


# --- 8. MOSC observedGeneration must not go backwards ---------------------------------------


def test_mosc_observed_generation_must_not_go_backwards(kube: Kube) -> None:
    name = unique("pool")
    kube.create(MOSC, mosc_body(name))
    kube.set_status(MOSC, name, {"observedGeneration": 3})
    rejected(
        lambda: kube.set_status(MOSC, name, {"observedGeneration": 2}), MSG_OBSERVED_GENERATION
    )
    got = kube.set_status(MOSC, name, {"observedGeneration": 4})
    assert got["status"]["observedGeneration"] == 4


# --- printer columns ----------------------------------------------------------------------------


def server_table(kube: Kube, plural: str, name: str) -> tuple[list[str], list[Any]]:
    """GET as a meta.k8s.io Table, as `kubectl get` does: (column names, the row's cells)."""
    api: Any = kube.api  # the stubs lack _headers and the raw-response form
    response = api.get_cluster_custom_object(
        GROUP,
        VERSION,
        plural,
        name,
        _headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        _preload_content=False,
    )
    table = json.loads(response.data)
    assert table["kind"] == "Table", table
    columns = [str(c["name"]) for c in table["columnDefinitions"]]
    return columns, list(table["rows"][0]["cells"])


def test_mosb_printer_columns(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    kube.set_status(
        MOSB,
        name,
        {
            "conditions": [
                condition("Prepared", "False"),
                condition("Building", "False"),
                condition("Succeeded", "True"),
                condition("Interrupted", "False"),
                condition("Failed", "False"),
            ]
        },
    )
    columns, cells = server_table(kube, MOSB, name)
    assert columns == [
        "Name",
        "Prepared",
        "Building",
        "Succeeded",
        "Interrupted",
        "Failed",
        "Age",
    ]
    assert cells[:6] == [name, "False", "False", "True", "False", "False"]


def test_mcp_and_mc_printer_columns(kube: Kube) -> None:
    pool = unique("pool")
    kube.create(MCP, mcp_body(pool))
    columns, _ = server_table(kube, MCP, pool)
    assert columns == [
        "Name",
        "Config",
        "Updated",
        "Updating",
        "Degraded",
        "MachineCount",
        "ReadyMachineCount",
        "UpdatedMachineCount",
        "DegradedMachineCount",
        "Age",
    ]
    mc = unique("rendered-worker")
    kube.create(MC, mc_body(mc))
    columns, cells = server_table(kube, MC, mc)
    assert columns == ["Name", "GeneratedByController", "IgnitionVersion", "Age"]
    assert cells[2] == "3.4.0"
