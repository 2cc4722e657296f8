"""Builds against the real API server: the operator as a process, real registry checks
(docker-registry + skopeo), the Job controller's and kubelet's part played by the test."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import kubernetes
import pytest

from hack import controlplane, fakenodes, operatoridentity
from hack.operatorproc import OperatorProcess
from hack.registry import LocalRegistry, missing_tools
from mosb_controller.arch import SUPPORTED_ARCHES
from tests.support.factories import mosc_body, pool_body, rendered_body
from tests.support.kubelet import FakeKubelet, push_arch_image
from tests.support.polling import delete_quietly, eventually, require

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
CF = {"amd64": "AMD64", "arm64": "ARM64", "ppc64le": "PPC64LE", "s390x": "S390X"}
CA_CONFIGMAP = "mosb-registry-ca"
NO_NODE_TIMEOUT = 4
LIST_DIGEST = "sha256:" + "f" * 64


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="module")
def operator(
    control_plane: controlplane.ControlPlane,
    namespace: str,
    registry: LocalRegistry,
    core: kubernetes.client.CoreV1Api,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    secret = {
        "metadata": {"name": "push", "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(registry.dockerconfigjson()).decode()},
    }
    with contextlib.suppress(kubernetes.client.ApiException):
        core.create_namespaced_secret(namespace, kubernetes.client.V1Secret.model_validate(secret))
    ca = (registry.ca_dir / "ca.crt").read_text()
    with contextlib.suppress(kubernetes.client.ApiException):
        core.create_namespaced_config_map(
            namespace,
            kubernetes.client.V1ConfigMap.model_validate(
                {"metadata": {"name": CA_CONFIGMAP}, "data": {"ca-bundle.crt": ca}}
            ),
        )
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(
        operatoridentity.operator_kubeconfig(control_plane),  # its SA, its RBAC
        namespace,
        log_path,
        extra_args=[
            f"--registry-ca-configmap={CA_CONFIGMAP}",
            f"--no-node-timeout-seconds={NO_NODE_TIMEOUT}",
        ],
    )
    proc.start()
    yield proc
    proc.stop()
    print(f"operator log: {log_path}")


class World:
    """One pool with a node per architecture, its rendered config and a MOSC."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        registry: LocalRegistry,
        arches: tuple[str, ...] = ARCHES,
    ) -> None:
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.batch = kubernetes.client.BatchV1Api(api_client)
        self.kubelet = FakeKubelet(api_client, namespace)
        self.namespace, self.registry = namespace, registry
        self.name = f"p{uuid.uuid4().hex[:8]}"
        self.repo = f"{registry.host}/{self.name}/os"
        self.store = Path(tempfile.mkdtemp(prefix="mosb-world-"))
        self.nodes: dict[str, str] = {}
        for arch in arches:
            self.add_node(arch)
        self.create(
            "machineconfigs", rendered_body(self.name, f"{registry.host}/base/rhcos:latest")
        )
        self.create("machineconfigpools", pool_body(self.name, machine_config_selector={}))

    def add_node(self, arch: str, *, schedulable: bool = True) -> str:
        name = f"{self.name}-{arch}"
        labels = {fakenodes.ARCH_LABEL: arch, "pool": self.name}
        self.core.create_node(fakenodes.node(name, labels, info_arch=arch))
        self.core.patch_node(name, {"spec": {"taints": None, "unschedulable": not schedulable}})
        self.nodes[arch] = name
        return name

    def create(self, plural: str, body: dict[str, Any]) -> None:
        kind = {"machineconfigs": "MachineConfig", "machineconfigpools": "MachineConfigPool",
                "machineosconfigs": "MachineOSConfig"}[plural]  # fmt: skip
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **body}
        self.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)

    def mosc_spec(self, entries: list[tuple[str, str]]) -> dict[str, Any]:
        return dict(mosc_body(entries, name=self.name, push_spec=f"{self.repo}:latest")["spec"])

    def apply_mosc(self, entries: list[tuple[str, str]]) -> None:
        try:
            self.create("machineosconfigs", {"metadata": {"name": self.name},
                                             "spec": self.mosc_spec(entries)})  # fmt: skip
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
            self.patch_mosc({"spec": self.mosc_spec(entries)})

    def patch_mosc(self, body: dict[str, Any]) -> None:
        self.custom.patch_cluster_custom_object(GROUP, VERSION, "machineosconfigs", self.name, body)

    def mosc(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.custom.get_cluster_custom_object(
            GROUP, VERSION, "machineosconfigs", self.name))  # fmt: skip

    def mosbs(self) -> list[dict[str, Any]]:
        listed = self.custom.list_cluster_custom_object(
            GROUP, VERSION, "machineosbuilds",
            label_selector=f"machineconfiguration.openshift.io/machine-os-config={self.name}",
        )  # fmt: skip
        items = cast(dict[str, Any], listed)["items"]
        return [m for m in items if not m["metadata"].get("deletionTimestamp")]

    def mosb(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.custom.get_cluster_custom_object(
            GROUP, VERSION, "machineosbuilds", name))  # fmt: skip

    def current(self) -> dict[str, Any]:
        """The one live MOSB (waits for exactly one)."""

        def one() -> dict[str, Any] | None:
            found = self.mosbs()
            return found[0] if len(found) == 1 else None

        return cast(dict[str, Any], eventually(one))

    def jobs(self, mosb: str) -> dict[str, dict[str, Any]]:
        found = {}
        for job in self.batch.list_namespaced_job(self.namespace).items:
            data = self.batch.api_client.sanitize_for_serialization(job)
            if (
                data["metadata"].get("annotations", {}).get("mosb-controller.io/machine-os-build")
                == mosb
            ):
                found[data["metadata"]["name"]] = data
        return found

    def build_jobs(self, mosb: str, count: int) -> dict[str, str]:
        """arch → Job name, once exactly `count` build Jobs exist."""

        def ready() -> dict[str, str] | None:
            jobs = {j["metadata"]["annotations"]["mosb-controller.io/arch"]: n
                    for n, j in self.jobs(mosb).items()
                    if j["metadata"]["labels"]["mosb-controller.io/role"] == "build"}  # fmt: skip
            return jobs if len(jobs) == count else None

        return cast(dict[str, str], eventually(ready))

    def succeed_build(self, mosb: str, arch: str, job: str) -> str:
        spec = self.jobs(mosb)[job]["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value", "") for e in spec["containers"][0]["env"]}
        digest = push_arch_image(self.registry, self.store, env["MOSB_TARGET_IMAGE"], arch, mosb)
        self.kubelet.succeed(job, self.nodes[arch], digest)
        return digest

    def succeed_all(self, mosb: str, arch_jobs: dict[str, str]) -> dict[str, str]:
        digests = {a: self.succeed_build(mosb, a, j) for a, j in arch_jobs.items()}
        if len(self.records(mosb)) > 1:  # several architectures: the list is pushed
            self.kubelet.succeed(self.push_job(mosb), self.nodes["amd64"], LIST_DIGEST)
        eventually(lambda: condition(self.mosb(mosb), "Succeeded") == "True")
        return digests

    def push_job(self, mosb: str) -> str:
        def find() -> str | None:
            return next(
                (n for n, j in self.jobs(mosb).items()
                 if j["metadata"]["labels"]["mosb-controller.io/role"] == "push"),
                None,
            )  # fmt: skip

        return cast(str, eventually(find))

    def next_mosb(self, previous: str) -> str:
        """The name of the live MOSB other than `previous`, once there is one."""

        def other() -> str | None:
            return next(
                (
                    str(m["metadata"]["name"])
                    for m in self.mosbs()
                    if m["metadata"]["name"] != previous
                ),
                None,
            )

        return cast(str, eventually(other))

    def pool(self) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.custom.get_cluster_custom_object(GROUP, VERSION, "machineconfigpools", self.name),
        )

    def records(self, mosb: str) -> dict[str, Any]:
        raw = self.mosb(mosb)["metadata"]["annotations"]["mosb-controller.io/arch-builds"]
        return cast(dict[str, Any], json.loads(raw))

    def settle(self) -> None:
        """Wait until the operator has processed every earlier MOSC change: ask for a
        retry of failed architectures, which it takes off at once when nothing failed."""
        self.patch_mosc({"metadata": {"annotations": {"mosb-controller.io/retry-failed": ""}}})
        eventually(lambda: "mosb-controller.io/retry-failed"
                   not in (self.mosc()["metadata"].get("annotations") or {}))  # fmt: skip

    def cleanup(self) -> None:
        for plural in ("machineosconfigs", "machineconfigpools"):
            delete_quietly(
                self.custom.delete_cluster_custom_object, GROUP, VERSION, plural, self.name
            )
        delete_quietly(self.custom.delete_cluster_custom_object, GROUP, VERSION,
                       "machineconfigs", f"rendered-{self.name}-1")  # fmt: skip
        for node in self.nodes.values():
            delete_quietly(self.core.delete_node, node)


def condition(mosb: dict[str, Any], type_: str) -> str | None:
    for c in (mosb.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return None


@pytest.fixture
def world(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    registry: LocalRegistry,
    operator: OperatorProcess,
) -> Iterator[World]:
    made = World(api_client, namespace, registry)
    yield made
    made.cleanup()


BASE_ENTRIES = [("NoArch", "RUN echo common"), ("ARM64", "RUN echo arm"), ("S390X", "RUN echo z")]


def test_one_native_job_per_architecture(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    mosb = world.current()
    name = mosb["metadata"]["name"]
    assert name.startswith(f"{world.name}-")
    assert mosb["metadata"]["ownerReferences"][0]["kind"] == "MachineOSConfig"
    assert mosb["spec"]["renderedImagePushSpec"] == f"{world.repo}:{name}"
    jobs = world.build_jobs(name, 4)
    for arch, job in jobs.items():
        spec = world.jobs(name)[job]["spec"]["template"]["spec"]
        assert spec["nodeSelector"]["kubernetes.io/arch"] == arch
    annotations = world.mosc()["metadata"]["annotations"]
    assert annotations["machineconfiguration.openshift.io/current-machine-os-build"] == name


def test_reorder_builds_nothing_and_one_arch_change_rebuilds_only_it(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    first = world.current()["metadata"]["name"]
    digests = world.succeed_all(first, world.build_jobs(first, 4))

    world.apply_mosc(list(reversed(BASE_ENTRIES)))
    world.settle()
    assert [m["metadata"]["name"] for m in world.mosbs()] == [first]

    world.apply_mosc(
        [("NoArch", "RUN echo common"), ("ARM64", "RUN echo arm v2"), ("S390X", "RUN echo z")]
    )
    second = world.next_mosb(first)
    jobs = world.build_jobs(second, 1)
    world.settle()
    assert list(jobs) == ["arm64"]
    assert len(world.jobs(second)) == 1
    records = world.records(second)
    for arch in ("amd64", "ppc64le", "s390x"):
        assert records[arch]["phase"] == "Reused"
        assert records[arch]["digest"] == digests[arch]
        assert records[arch]["reusedFrom"] == first


def test_an_image_gone_from_the_registry_is_built_again(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    first = world.current()["metadata"]["name"]
    digests = world.succeed_all(first, world.build_jobs(first, 4))
    world.registry.delete_manifest(f"{world.name}/os", digests["amd64"])
    world.apply_mosc(
        [("NoArch", "RUN echo common"), ("ARM64", "RUN echo arm v3"), ("S390X", "RUN echo z")]
    )
    second = world.next_mosb(first)
    assert sorted(world.build_jobs(second, 2)) == ["amd64", "arm64"]


def test_failure_names_arch_and_cause_then_retry_rebuilds_only_it(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    jobs = world.build_jobs(name, 4)
    for arch in ("amd64", "ppc64le", "s390x"):
        world.succeed_build(name, arch, jobs[arch])
    cause = "error: a step of the Containerfile failed (see below)\nRUN make: exit 2"
    world.kubelet.fail(jobs["arm64"], world.nodes["arm64"], cause)
    eventually(lambda: condition(world.mosb(name), "Failed") == "True")
    failed = next(c for c in world.mosb(name)["status"]["conditions"] if c["type"] == "Failed")
    assert "arm64" in failed["message"] and jobs["arm64"] in failed["message"]
    assert "RUN make: exit 2" in failed["message"]

    def degraded() -> dict[str, Any]:
        conditions = world.pool()["status"].get("conditions") or []
        return next((c for c in conditions if c["type"] == "ImageBuildDegraded"), {})

    # The pool's condition is written after the MOSB's status: wait for it too.
    eventually(lambda: degraded().get("status") == "True")
    assert degraded()["status"] == "True" and degraded()["reason"] == "BuildFailed"

    world.patch_mosc({"metadata": {"annotations": {"mosb-controller.io/retry-failed": ""}}})
    eventually(lambda: condition(world.current(), "Failed") != "True")
    retried = world.current()["metadata"]["name"]
    assert retried == name  # same inputs, same name
    assert list(world.build_jobs(name, 1)) == ["arm64"]
    records = world.records(name)
    assert {a: r["phase"] for a, r in records.items() if a != "arm64"} == dict.fromkeys(
        ("amd64", "ppc64le", "s390x"), "Reused"
    )


def test_deleting_a_job_interrupts_deleting_a_pod_does_not(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    jobs = world.build_jobs(name, 4)
    pod = world.kubelet.start(jobs["amd64"], world.nodes["amd64"])
    eventually(lambda: condition(world.mosb(name), "Building") == "True")
    world.core.delete_namespaced_pod(pod, world.namespace)
    world.settle()
    assert condition(world.mosb(name), "Interrupted") == "False"
    world.batch.delete_namespaced_job(
        jobs["s390x"], world.namespace, propagation_policy="Background"
    )
    eventually(lambda: condition(world.mosb(name), "Interrupted") == "True")
    message = next(
        c for c in world.mosb(name)["status"]["conditions"] if c["type"] == "Interrupted"
    )["message"]
    assert "s390x" in message


def test_rebuild_builds_every_architecture_again(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    world.succeed_all(name, world.build_jobs(name, 4))
    uid = world.mosb(name)["metadata"]["uid"]
    world.patch_mosc(
        {"metadata": {"annotations": {"machineconfiguration.openshift.io/rebuild": ""}}}
    )
    eventually(lambda: world.current()["metadata"]["uid"] != uid)
    jobs = world.build_jobs(name, 4)
    assert sorted(jobs) == sorted(ARCHES)
    world.succeed_all(name, jobs)
    eventually(lambda: "machineconfiguration.openshift.io/rebuild"
               not in (world.mosc()["metadata"].get("annotations") or {}))  # fmt: skip


def test_success_publishes_the_image_and_cleans_up(world: World) -> None:
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    world.succeed_all(name, world.build_jobs(name, 4))
    mosb = world.mosb(name)
    assert mosb["status"]["digestedImagePushSpec"] == f"{world.repo}@sha256:{'f' * 64}"
    status = eventually(
        lambda: (
            world.mosc().get("status", {}).get("currentImagePullSpec") and world.mosc()["status"]
        )
    )
    assert status["currentImagePullSpec"] == f"{world.repo}@sha256:{'f' * 64}"
    assert status["machineOSBuild"]["name"] == name
    eventually(lambda: not world.jobs(name))
    digests = json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-digests"])
    assert sorted(digests) == sorted(ARCHES)


def test_no_buildable_node_is_said_then_fails(world: World) -> None:
    world.core.patch_node(world.nodes["s390x"], {"spec": {"unschedulable": True}})
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    assert sorted(world.build_jobs(name, 3)) == ["amd64", "arm64", "ppc64le"]
    eventually(
        lambda: (
            "waiting for a Ready, schedulable s390x node" in json.dumps(world.mosb(name)["status"])
        )
    )
    eventually(
        lambda: condition(world.mosb(name), "Failed") == "True", timeout=NO_NODE_TIMEOUT + 40
    )
    assert "NoBuildableNode" in json.dumps(world.mosb(name)["status"])


def test_operator_restart_mid_build_creates_no_duplicate_job(
    world: World, operator: OperatorProcess, control_plane: controlplane.ControlPlane
) -> None:
    world.apply_mosc(BASE_ENTRIES)
    name = world.current()["metadata"]["name"]
    jobs = world.build_jobs(name, 4)
    world.kubelet.start(jobs["amd64"], world.nodes["amd64"])
    operator.stop(signal.SIGKILL)
    operator.start()
    world.succeed_all(name, jobs)
    creates = [json.loads(line) for line in control_plane.audit_log.read_text().splitlines()]
    job_creates = [e for e in creates if e.get("verb") == "create"
                   and (e.get("objectRef") or {}).get("resource") == "jobs"
                   and (e.get("objectRef") or {}).get("name", "").startswith(name)
                   and e.get("responseStatus", {}).get("code") == 201]  # fmt: skip
    assert len(job_creates) == 5  # four builds and one push, each once
