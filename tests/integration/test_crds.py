"""The CRDs in manifests/crds behave as openshift/api machineconfiguration.openshift.io/v1.

Every test runs against a real kube-apiserver (fixture `api_client` in tests/conftest.py)
and asserts what the server does: OpenAPI validation, defaulting, pruning, the CEL rules
with upstream's messages (the single-object rules from the table the models' tests share,
tests/support/validation_cases.py), and the printer columns. The controller relies on these
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

from tests.support import factories
from tests.support.validation_cases import CASES, MSG_MOSC_NAME, Case

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

# Upstream's messages of the transition rules (see manifests/crds/*.yaml).
MSG_MOSB_SPEC_IMMUTABLE = "machineOSBuildSpec is immutable once set"
MSG_CONDITIONS_IMMUTABLE = {
    "Succeeded": "once an Succeeded condition is set, conditions are immutable",
    "Failed": "once a Failed condition is set, conditions are immutable",
    "Interrupted": "once an Interrupted condition is set, conditions are immutable",
}
MSG_OBSERVED_GENERATION = "observedGeneration must not move backwards"


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
    body = factories.mosc_body(
        [("NoArch", "FROM configs AS final\n"), ("ARM64", "FROM configs AS final\nRUN true\n")],
        name=name,
        pool=pool,
        pull_secret="base-pull-secret",  # noqa: S106 - a Secret's name
        push_secret="push-secret",  # noqa: S106 - a Secret's name
        push_spec="registry.example.com:5000/ocl/os-image:latest",
    )
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
            # group "" is rejected (validation case mosb-related-object-group-empty)
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


# --- 2. MOSC name must match its pool, also after a change -----------------------------------


def test_mosc_pool_cannot_be_changed_to_another(kube: Kube) -> None:
    name = unique("pool")
    kube.create(MOSC, mosc_body(name))
    rejected(
        lambda: kube.patch(MOSC, name, {"spec": {"machineConfigPool": {"name": "worker"}}}),
        MSG_MOSC_NAME,
    )


# --- 3. containerFile entries are defaulted --------------------------------------------------


def test_containerfile_arch_defaults_to_noarch(kube: Kube) -> None:
    name = unique("pool")
    files = [{"content": "FROM configs\n"}]
    got = kube.create(MOSC, mosc_body(name, containerFile=files))
    assert got["spec"]["containerFile"] == [
        {"containerfileArch": "NoArch", "content": "FROM configs\n"}
    ]


# --- 4. the validation rules of single objects: the table shared with the models -------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validation_rules(kube: Kube, case: Case) -> None:
    """Each case of tests/support/validation_cases.py applied to a fresh object: created
    (spec cases) or written through /status (status cases); accepted as given, or refused
    with 422 Invalid saying why."""
    mosc = unique("pool")
    if case.kind == "MachineOSConfig":
        plural, body = MOSC, mosc_body(mosc)
    else:
        plural, body = MOSB, mosb_body(f"{mosc}-0123abcd", mosc)
    if case.status:
        name = kube.create(plural, body)["metadata"]["name"]

        def write() -> Obj:
            return kube.set_status(plural, name, case.written_status())
    else:
        edited = case.edited(body)

        def write() -> Obj:
            return kube.create(plural, edited)

    if case.valid:
        case.kept(write())
    else:
        rejected(write, *case.server_has)


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


def test_mosb_build_times(kube: Kube) -> None:
    mosc = unique("pool")
    name = f"{mosc}-0123abcd"
    kube.create(MOSB, mosb_body(name, mosc))
    kube.set_status(MOSB, name, {"buildStart": T0})
    rejected(
        lambda: kube.set_status(MOSB, name, {"buildStart": T1}), "buildStart is immutable once set"
    )
    kube.set_status(MOSB, name, {"buildStart": T0, "buildEnd": T1})
    rejected(
        lambda: kube.set_status(MOSB, name, {"buildStart": T0, "buildEnd": T2}),
        "buildEnd is immutable once set",
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
