"""The whole local heterogeneous cluster, for the demo and the end-to-end tests.

A running cluster control plane (etcd, kube-apiserver, kube-scheduler,
kube-controller-manager, kwok) is given; this adds the real registry with a seeded
multi-architecture base image, the controller namespace with its ServiceAccount, push
secret and registry CA, the node harness that runs build and push pods for real, and the
operator as a process. Pools, rendered configs and MachineOSConfigs are added per use.
"""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import kubernetes
from kubernetes.client import ApiException

from api import (
    BASE_OS_CONTAINER_IMAGE_KEY,
    OSIMAGEURL_CONFIGMAP,
    OSIMAGEURL_NAMESPACE,
    Mode,
    group_of,
)
from api.names import MCO_IMAGE_FIELD, MCO_IMAGES_CONFIGMAP, MCO_IMAGES_KEY
from hack import admission, controlplane, fakenodes, kube_paths, nodenet, operatoridentity
from hack.clustercomponents import DEFAULT_KWOK_CONFIG
from hack.nodeharness import NodeHarness
from hack.operatorproc import OperatorProcess
from hack.realnode import RealNode
from hack.registry import LocalRegistry, seed_base_image
from mosb_controller.arch import SUPPORTED_ARCHES
from mosb_controller.settings import DEFAULT_BUILDER_IMAGE

GROUP, VERSION = "machineconfiguration.openshift.io", "v1"
NAMESPACE = "mosb-controller"
CA_CONFIGMAP = "mosb-registry-ca"
PUSH_SECRET = "push"  # noqa: S105 - a Secret's name
BASE_REPO = "ocp/rhcos"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order


# Server-side apply: create, or make an existing object exactly this.
_APPLY: dict[str, Any] = {
    "field_manager": "localcluster",
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


def _ignore_conflict(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def _prefer_not(arch: str) -> dict[str, str]:
    """A foreign-architecture node's PreferNoSchedule taint: pods without a preference,
    such as the push pod, go to the real amd64 node; a build pod of that architecture
    still goes there (its nodeSelector leaves no other)."""
    return {"key": "kubernetes.io/arch", "value": arch, "effect": "PreferNoSchedule"}


class LocalCluster:
    def __init__(
        self,
        plane: controlplane.ControlPlane,
        workdir: Path | None = None,
        registry_port: int = 0,
        registry_address: str = "127.0.0.1",  # another of this machine's: proxy tests
        *,
        real_node: bool = False,
    ) -> None:
        """`real_node`: also the real node (hack/realnode.py); the registry then listens
        on its pods' bridge address, which this machine reaches as well."""
        self.plane = plane
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="mosb-local-"))
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(plane.kubeconfig), client_configuration=config
        )
        self.client = kubernetes.client.ApiClient(config)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.batch = kubernetes.client.BatchV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        address = nodenet.BRIDGE_IP if real_node else registry_address
        self.registry = LocalRegistry(
            self.workdir / "registry", port=registry_port, address=address
        )
        self.node = RealNode(plane, self.registry, self.workdir / "realnode") if real_node else None
        self.base_image = ""
        self.harness: NodeHarness | None = None
        self.operator: OperatorProcess | None = None
        self.mode = Mode.BUILDER

    # -- lifecycle ----------------------------------------------------------------------
    def start(
        self,
        operator_args: Sequence[str] = (),
        with_operator: bool = True,
        *,
        simulate_builds: float | None = None,
        harness_workers: int = 4,
        mode: Mode = Mode.BUILDER,
    ) -> LocalCluster:
        """Without the operator, run it yourself (e.g. its Deployment, hack/operatorpod.py).
        `simulate_builds`: seconds each pod takes instead of running it (benchmarks).
        alongside-mco: also the MCO's namespace and osimageurl ConfigMap naming the base."""
        self.mode = mode
        if self.node is not None:
            self.node.check()
            nodenet.ensure_bridge()  # the registry listens on its address
        self.registry.start()
        # The OS-like flavour: builder mode's Containerfile runs the OS tools upstream's
        # template calls (ignition-apply, rpm-ostree, ostree, update-ca-trust); its
        # stand-ins record what each build asked of them.
        self.base_image = seed_base_image(self.registry, BASE_REPO, ARCHES, flavour="os-like")
        self._namespace()
        if self.node is not None:
            self.node.start()
        if mode is Mode.ALONGSIDE_MCO:
            self.set_release_base(self.base_image)
            self.set_mco_image(DEFAULT_BUILDER_IMAGE)
        self.harness = NodeHarness(
            self.client, NAMESPACE, workers=harness_workers, simulate_seconds=simulate_builds
        ).start()
        if with_operator:
            self.start_operator(operator_args)
        return self

    def start_operator(self, operator_args: Sequence[str] = ()) -> None:
        self.operator = OperatorProcess(
            operatoridentity.operator_kubeconfig(self.plane, self.mode),  # its SA, its RBAC
            NAMESPACE,
            self.workdir / "operator.log",
            extra_args=[
                f"--registry-ca-configmap={CA_CONFIGMAP}",
                f"--mode={self.mode.value}",
                *self._mode_args(),
                *self.builder_image_args(),
                *operator_args,
            ],
        )
        self.operator.start()

    def builder_image_args(self) -> list[str]:
        """The builder image a real node pulls (from Debian packages, in our registry);
        the harness runs the kwok nodes' pods with this machine's buildah whatever the
        image, so without a real node the default stays."""
        if self.node is None:
            return []
        return [f"--builder-image={self.node.images['builder-amd64']}"]

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        if self.harness is not None:
            self.harness.stop()
        if self.node is not None:
            self.node.stop()
        self.registry.stop()
        self.client.close()

    def _namespace(self) -> None:
        core = self.core
        _ignore_conflict(
            core.create_namespace, kubernetes.client.V1Namespace(metadata={"name": NAMESPACE})
        )
        _ignore_conflict(
            core.create_namespaced_service_account,
            NAMESPACE,
            kubernetes.client.V1ServiceAccount(metadata={"name": "mosb-builder"}),
        )
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": PUSH_SECRET},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {
                ".dockerconfigjson": base64.b64encode(self.registry.dockerconfigjson()).decode()
            },
        }
        # Replaced if present: an earlier LocalCluster on the same control plane left
        # those of its own (now stopped) registry.
        core.patch_namespaced_secret(PUSH_SECRET, NAMESPACE, secret, **_APPLY)
        ca = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CA_CONFIGMAP},
            "data": {"ca-bundle.crt": self.ca_text()},
        }
        core.patch_namespaced_config_map(CA_CONFIGMAP, NAMESPACE, ca, **_APPLY)
        # What OpenShift's anyuid SCC admits for build pods, enforced here too.
        admission.apply(self.plane.kubeconfig, core, NAMESPACE)

    def set_release_base(self, image: str) -> None:
        """The MCO's osimageurl ConfigMap, as a release (or its upgrade) writes it."""
        _ignore_conflict(
            self.core.create_namespace,
            kubernetes.client.V1Namespace(metadata={"name": OSIMAGEURL_NAMESPACE}),
        )
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": OSIMAGEURL_CONFIGMAP},
            "data": {BASE_OS_CONTAINER_IMAGE_KEY: image, "releaseVersion": "4.99.0-local"},
        }
        self.core.patch_namespaced_config_map(
            OSIMAGEURL_CONFIGMAP, OSIMAGEURL_NAMESPACE, body, **_APPLY
        )

    def set_mco_image(self, image: str) -> None:
        """The MCO's images ConfigMap naming its own image: on OpenShift the builder
        (the overlay's --mco-images-configmap; the harness runs pods whatever the image)."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": MCO_IMAGES_CONFIGMAP},
            "data": {MCO_IMAGES_KEY: json.dumps({MCO_IMAGE_FIELD: image})},
        }
        self.core.patch_namespaced_config_map(
            MCO_IMAGES_CONFIGMAP, OSIMAGEURL_NAMESPACE, body, **_APPLY
        )

    def _mode_args(self) -> list[str]:
        """alongside-mco runs as the OpenShift overlay configures it."""
        if self.mode is not Mode.ALONGSIDE_MCO:
            return []
        return [f"--mco-images-configmap={OSIMAGEURL_NAMESPACE}/{MCO_IMAGES_CONFIGMAP}"]

    def ca_text(self) -> str:
        return (self.registry.ca_dir / "ca.crt").read_text()

    # -- objects ------------------------------------------------------------------------
    def group(self, plural: str) -> str:
        """MachineOSConfigs and MachineOSBuilds are in our own group in alongside-mco."""
        return group_of(plural, self.mode)

    def create(self, plural: str, kind: str, body: dict[str, Any]) -> None:
        group = self.group(plural)
        full = {"apiVersion": f"{group}/{VERSION}", "kind": kind, **body}
        _ignore_conflict(self.custom.create_cluster_custom_object, group, VERSION, plural, full)

    def add_pool(self, name: str, arches: Sequence[str], per_arch: int = 1) -> None:
        """A pool selecting `per_arch` kwok nodes of each architecture, and its rendered
        MachineConfig whose osImageURL is the seeded multi-architecture base."""
        self.add_nodes(name, arches, per_arch, name)
        rendered = f"rendered-{name}-1"
        self.create("machineconfigs", "MachineConfig", {
            "metadata": {"name": rendered}, "spec": {"osImageURL": self.base_image},
        })  # fmt: skip
        self.create("machineconfigpools", "MachineConfigPool", {
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": {"matchLabels": {"pool": name}},
                "machineConfigSelector": {},
                "configuration": {"name": rendered},
            },
        })  # fmt: skip

    def add_nodes(self, pool: str, arches: Sequence[str], per_arch: int, prefix: str) -> None:
        """kwok nodes in `pool`, waited for until the scheduler may use them. With the
        real node, it is the pool's amd64 node (per_arch 1) and the others are kwok's."""
        if self.node is not None and "amd64" in arches:
            if per_arch != 1:
                raise ValueError("with the real node, a pool has one amd64 node: that one")
            self.core.patch_node(self.node.name, {"metadata": {"labels": {"pool": pool}}})
            arches = [a for a in arches if a != "amd64"]
        names = fakenodes.add_nodes(self.client, arches, per_arch, {"pool": pool}, prefix)
        fakenodes.wait_nodes_ready(self.client, names)
        if self.node is not None:  # as multi-arch clusters often taint their other arches
            node_arches = [a for a in arches for _ in range(per_arch)]  # add_nodes' order
            for name, arch in zip(names, node_arches, strict=True):
                spec = self.core.read_node(name).spec
                # the list is replaced whole: after the not-ready taint was lifted
                taints = (spec and spec.taints) or []
                kept = [self.client.sanitize_for_serialization(t) for t in taints]
                body = {"spec": {"taints": [*kept, _prefer_not(arch)]}}
                self.core.patch_node(name, body)

    def mosc_body(self, name: str, entries: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {
                "machineConfigPool": {"name": name},
                "imageBuilder": {"imageBuilderType": "Job"},
                "renderedImagePushSecret": {"name": PUSH_SECRET},
                "baseImagePullSecret": {"name": PUSH_SECRET},  # the local registry wants auth
                "renderedImagePushSpec": f"{self.registry.host}/ocl/{name}:latest",
                "containerFile": [{"containerfileArch": a, "content": c} for a, c in entries],
            },
        }

    def apply_mosc(self, name: str, entries: Sequence[tuple[str, str]]) -> None:
        """Create the MOSC, or set its spec if it exists (like `kubectl apply`)."""
        body = self.mosc_body(name, entries)
        self.create("machineosconfigs", "MachineOSConfig", body)
        self.custom.patch_cluster_custom_object(
            self.group("machineosconfigs"),
            VERSION,
            "machineosconfigs",
            name,
            {"spec": body["spec"]},
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        group = self.group(plural)
        return cast(
            dict[str, Any], self.custom.get_cluster_custom_object(group, VERSION, plural, name)
        )

    def resolved(self, ref: str, arch: str) -> tuple[str, str]:
        """What a node of `arch` pulls for `ref`: the platform its skopeo resolves the list
        to (``skopeo --override-arch <arch> inspect``: the chosen image's Architecture),
        and that platform's digest in the list."""
        import json
        import subprocess

        with tempfile.TemporaryDirectory(prefix="mosb-resolve-") as tmp:
            auth = self.registry.authfile(Path(tmp) / "auth.json")
            argv = ["skopeo", "--override-arch", arch, "--override-os", "linux", "inspect"]
            argv += ["--authfile", str(auth), "--cert-dir", str(self.registry.ca_dir)]
            done = subprocess.run(
                [*argv, f"docker://{ref}"], capture_output=True, check=True, timeout=120
            )
        chosen = f"linux/{json.loads(done.stdout)['Architecture']}"
        return chosen, dict(self.platforms(ref))[chosen]

    def pool_nodes(self, pool: str) -> list[tuple[str, str]]:
        """(node, architecture) of the pool's nodes (label pool=<name>)."""
        nodes = self.core.list_node(label_selector=f"pool={pool}").items
        return sorted(
            (n.metadata.name, n.metadata.labels["kubernetes.io/arch"])
            for n in nodes
            if n.metadata is not None and n.metadata.name and n.metadata.labels
        )

    def platforms(self, ref: str) -> list[tuple[str, str]]:
        """(platform, digest) of each manifest of the list at `ref`."""
        import json

        raw = json.loads(self.registry.inspect_raw(ref))
        return [
            (f"{m['platform']['os']}/{m['platform']['architecture']}", m["digest"])
            for m in raw.get("manifests", [])
        ]


@contextlib.contextmanager
def running(
    with_operator_args: Sequence[str] = (),
    workdir: Path | None = None,
    registry_port: int = 0,
    *,
    real_node: bool = False,
    **start_options: Any,
) -> Iterator[LocalCluster]:
    """Control plane with kwok, then the LocalCluster on top (with `real_node`, the real
    node too); all stopped on exit (`start_options` go to `LocalCluster.start`)."""
    plane_dir = (workdir or Path(tempfile.mkdtemp(prefix="mosb-cluster-"))) / "control-plane"
    plane = controlplane.ControlPlane(
        workdir=plane_dir,
        bin_dir=kube_paths.kube_bin_dir(),
        with_cluster=True,
        kwok_config=DEFAULT_KWOK_CONFIG,
    )
    plane.start()
    try:
        controlplane.apply_crds(plane.kubeconfig)
        cluster = LocalCluster(plane, workdir, registry_port, real_node=real_node)
        cluster.start(with_operator_args, **start_options)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        plane.stop()
        plane.cleanup()
