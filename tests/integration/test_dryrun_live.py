"""`mosb-controller plan --live` against the real API server: it reads what the operator
would observe, decides as the operator would, and writes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import kubernetes
import pytest

from api import (
    ARCH_BUILDS_ANNOTATION,
    MACHINE_OS_CONFIG_LABEL,
    ArchBuildPhase,
    ArchBuildRecord,
    encode_arch_builds,
)
from hack import controlplane, fakenodes
from mosb_controller.arch import SUPPORTED_ARCHES
from mosb_controller.cli import main
from tests.support.factories import mosc_body, pool_body, rendered_body
from tests.support.polling import delete_quietly

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
DIGEST = {a: "sha256:" + f"{i:x}" * 64 for i, a in enumerate(ARCHES, start=1)}
START, END = "2026-11-22T11:00:00Z", "2026-11-22T12:00:00Z"


class LiveWorld:
    """A pool with a node per architecture, its rendered config, a MOSC and its push
    Secret, all named for this test; removed afterwards."""

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str) -> None:
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.name = f"dry-{uuid.uuid4().hex[:8]}"
        self.repo = f"registry.example.com/{self.name}/os"
        self.secret = f"push-{self.name}"
        self.nodes = [f"{self.name}-{a}" for a in ARCHES]
        self.mosbs: list[str] = []
        for node, arch in zip(self.nodes, ARCHES, strict=True):
            labels = {fakenodes.ARCH_LABEL: arch, "pool": self.name}
            self.core.create_node(fakenodes.node(node, labels, info_arch=arch))
            self.core.patch_node(node, {"spec": {"taints": None}})
        self.create("machineconfigs", "MachineConfig", rendered_body(self.name))
        self.create(
            "machineconfigpools",
            "MachineConfigPool",
            pool_body(self.name, machine_config_selector={}),
        )
        self.create(
            "machineosconfigs",
            "MachineOSConfig",
            mosc_body(name=self.name, push_secret=self.secret, push_spec=f"{self.repo}:latest"),
        )
        self.core.create_namespaced_secret(
            namespace,
            kubernetes.client.V1Secret.model_validate({
                "metadata": {"name": self.secret},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(b'{"auths": {}}').decode()},
            }),
        )  # fmt: skip

    def create(self, plural: str, kind: str, body: dict[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **body}
        self.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)

    def earlier_mosb(self, keys: dict[str, str]) -> str:
        """A succeeded MachineOSBuild whose records match `keys` (other archs: other keys)."""
        name = f"{self.name}-earlier"
        records = {
            a: ArchBuildRecord(
                arch=a,
                key=keys.get(a, f"older-{a}"),
                phase=ArchBuildPhase.SUCCEEDED,
                digest=DIGEST[a],
                image=f"{self.repo}@{DIGEST[a]}",
            )
            for a in ARCHES
        }
        self.create("machineosbuilds", "MachineOSBuild", {
            "metadata": {
                "name": name,
                "labels": {MACHINE_OS_CONFIG_LABEL: self.name},
                "annotations": {ARCH_BUILDS_ANNOTATION: encode_arch_builds(records)},
            },
            "spec": {
                "machineConfig": {"name": f"rendered-{self.name}-1"},
                "machineOSConfig": {"name": self.name},
                "renderedImagePushSpec": f"{self.repo}:{name}",
            },
        })  # fmt: skip
        self.mosbs.append(name)
        condition = {
            "type": "Succeeded",
            "status": "True",
            "reason": "Ready",
            "message": "Build Ready",
            "lastTransitionTime": END,
        }
        self.custom.patch_cluster_custom_object_status(
            GROUP, VERSION, "machineosbuilds", name,
            {"status": {"conditions": [condition], "buildStart": START, "buildEnd": END}},
        )  # fmt: skip
        return name

    def versions(self) -> dict[str, str]:
        """resourceVersion of every object the dry run reads (a write changes one)."""
        found = {}
        for plural, name in (
            ("machineosconfigs", self.name),
            ("machineconfigpools", self.name),
            ("machineconfigs", f"rendered-{self.name}-1"),
            *(("machineosbuilds", m) for m in self.mosbs),
        ):
            obj = cast(
                dict[str, Any], self.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
            )
            found[f"{plural}/{name}"] = obj["metadata"]["resourceVersion"]
        for node in self.nodes:
            meta = self.core.read_node(node).metadata
            found[f"nodes/{node}"] = str(meta.resource_version if meta else "")
        return found

    def mosb_names(self) -> list[str]:
        listed = cast(dict[str, Any], self.custom.list_cluster_custom_object(
            GROUP, VERSION, "machineosbuilds",
            label_selector=f"{MACHINE_OS_CONFIG_LABEL}={self.name}",
        ))  # fmt: skip
        return sorted(m["metadata"]["name"] for m in listed["items"])

    def cleanup(self) -> None:
        for name in self.mosbs:
            delete_quietly(
                self.custom.delete_cluster_custom_object, GROUP, VERSION, "machineosbuilds", name
            )
        for plural, name in (
            ("machineosconfigs", self.name),
            ("machineconfigpools", self.name),
            ("machineconfigs", f"rendered-{self.name}-1"),
        ):
            delete_quietly(self.custom.delete_cluster_custom_object, GROUP, VERSION, plural, name)
        for node in self.nodes:
            delete_quietly(self.core.delete_node, node)
        delete_quietly(self.core.delete_namespaced_secret, self.secret, self.namespace)


@pytest.fixture
def world(api_client: kubernetes.client.ApiClient, namespace: str) -> Iterator[LiveWorld]:
    made = LiveWorld(api_client, namespace)
    yield made
    made.cleanup()


@pytest.fixture(autouse=True)
def kubeconfig(control_plane: controlplane.ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # never in-cluster here
    # The client reads KUBECONFIG once, at import: point its default there as well.
    monkeypatch.setattr(
        kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(control_plane.kubeconfig)
    )


def plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["plan", "--live", "-o", "json", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_live_plan_builds_then_reuses_and_writes_nothing(
    world: LiveWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.versions()
    code, data, err = plan(capsys, "--mosc", world.name)
    assert (code, err) == (0, "")
    assert (data["exists"], data["machineOSBuildAction"]) == (False, "create")
    assert {a["arch"]: a["action"] for a in data["architectures"]} == dict.fromkeys(ARCHES, "build")
    assert not any("secrets" in note for note in data["notes"])  # read from the cluster
    assert world.versions() == before
    keys = {a["arch"]: a["key"] for a in data["architectures"]}

    world.earlier_mosb({a: keys[a] for a in ARCHES[:3]})
    before = world.versions()
    code, data, err = plan(capsys, "--mosc", world.name)
    assert (code, err) == (0, "")
    assert {a["arch"]: a["action"] for a in data["architectures"]} == {
        "amd64": "reuse",
        "arm64": "reuse",
        "ppc64le": "reuse",
        "s390x": "build",
    }
    assert world.versions() == before
    assert world.mosb_names() == [f"{world.name}-earlier"]  # nothing created


def test_live_plan_checks_the_secrets_in_the_controller_namespace(
    world: LiveWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.core.delete_namespaced_secret(world.secret, world.namespace)
    code, data, _ = plan(capsys, "--mosc", world.name)
    assert code == 2
    assert data["refusal"] == {
        "reason": "PushSecretNotFound",
        "message": f"the push secret {world.secret} does not exist in namespace {world.namespace}",
    }


def test_live_plan_of_a_missing_mosc_exits_2(
    world: LiveWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data, err = plan(capsys, "--mosc", f"{world.name}-nope")
    assert (code, data) == (2, {})
    assert err.strip() == f"mosb-controller plan: MachineOSConfig {world.name}-nope not found"
