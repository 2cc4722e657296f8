"""The objects a build runs with: the inputs ConfigMap and the build and push Jobs. Pure.

The scripts are fixed (mosb_controller/scripts) and every admin-supplied value reaches
them as an environment variable or a mounted file, never as code. Names are
deterministic, so a restarted controller finds what it created.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from api import ON_CLUSTER_LAYERING_LABEL, VERSION, MachineOSBuild, Mode, build_group
from api.names import (
    ARCH_ANNOTATION,
    BUILD_OBJECT_LABEL,
    BUILD_UID_LABEL,
    MOSB_ANNOTATION,
    MOSC_ANNOTATION,
    ROLE_LABEL,
)
from mosb_controller.arch import ARCH_LABEL, SUPPORTED_ARCHES, build_tolerations
from mosb_controller.planning import clusterfiles
from mosb_controller.planning.inputs import BuildInputs, short_name
from mosb_controller.planning.network import ClusterNetwork
from mosb_controller.settings import Settings

SCRIPTS_MOUNT = "/etc/mosb/scripts"
INPUTS_MOUNT = "/etc/mosb/inputs"
PUSH_SECRET_MOUNT = "/etc/mosb/push-secret"  # noqa: S105 - a path, not a secret
PULL_SECRET_MOUNT = "/etc/mosb/pull-secret"  # noqa: S105 - a path, not a secret
CA_MOUNT = "/etc/mosb/certs"
ENTITLEMENT_MOUNT = "/etc/mosb/entitlement"
DOCKERCONFIG = ".dockerconfigjson"
CONTEXT_DIR = "context"  # under INPUTS_MOUNT: builder mode's build context
TRUST_PREFIX = "trust."  # inputs ConfigMap keys of the CA files, mounted at CA_MOUNT


def context_key(path: str) -> str:
    """The ConfigMap key of a build-context file (keys cannot hold `/`)."""
    return f"{CONTEXT_DIR}.{path.replace('/', '.')}"


def script_files() -> dict[str, str]:
    """The fixed scripts, as shipped in the package."""
    folder = resources.files("mosb_controller") / "scripts"
    return {f.name: f.read_text() for f in folder.iterdir() if f.name.endswith(".sh")}


def build_job_name(mosb: str, arch: str) -> str:
    return short_name(mosb, arch)


def push_job_name(mosb: str) -> str:
    return short_name(mosb, "push")


def inputs_configmap_name(mosb: str) -> str:
    return f"{mosb}-inputs"


def _owner(mosb: str, uid: str, mode: Mode) -> list[dict[str, Any]]:
    # The MOSB in the group the mode acts on: an owner of another group would be a
    # missing owner to garbage collection, which would delete the Job.
    kind = {"apiVersion": f"{build_group(mode)}/{VERSION}", "kind": MachineOSBuild.KIND}
    return [{**kind, "name": mosb, "uid": uid, "controller": True, "blockOwnerDeletion": True}]


def _meta(name: str, settings: Settings, mosb: str, uid: str, role: str, arch: str | None,
          mosc: str) -> Any:  # fmt: skip
    annotations = {
        MOSB_ANNOTATION: mosb,
        MOSC_ANNOTATION: mosc,
        **({ARCH_ANNOTATION: arch} if arch else {}),
    }
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": {
            BUILD_OBJECT_LABEL: "true",
            ROLE_LABEL: role,
            ON_CLUSTER_LAYERING_LABEL: "",
            BUILD_UID_LABEL: uid,
        },
        "annotations": annotations,
        "ownerReferences": _owner(mosb, uid, settings.mode),
    }


def owned_meta(name: str, settings: Settings, mosb: str, uid: str, role: str, mosc: str) -> Any:
    """Metadata of another object a build owns (its Secret copies: planning/buildsecrets)."""
    return _meta(name, settings, mosb, uid, role, None, mosc)


def inputs_configmap(
    inputs: BuildInputs, mosb: str, uid: str, arches: list[str], settings: Settings
) -> dict[str, Any]:
    """The scripts and every architecture's rendered Containerfile: all of them, so an
    architecture that starts later (after waiting for a node, or on a retry) finds its own."""
    data = dict(script_files())
    for arch in sorted({*arches, *inputs.architectures}):
        data[f"Containerfile.{arch}"] = inputs.rendered_containerfile(mosb, arch)
    for path, content in inputs.context_files().items():
        data[context_key(path)] = content
    # The CAs travel with the build, as upstream's `additionaltrustbundle-<mosb>`: a pod
    # mounts ConfigMaps of its own namespace only, and the cluster's live elsewhere.
    for name, pem in inputs.network.trust.items():
        data[TRUST_PREFIX + name] = pem
    data |= inputs.cluster_files.configmap_data()  # registries files, RPM repositories
    meta = _meta(inputs_configmap_name(mosb), settings, mosb, uid, "inputs", None, inputs.mosc)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def _literal(value: str) -> str:
    """An env value the kubelet passes through unchanged (it expands `$(NAME)`)."""
    return value.replace("$", "$$")


def _env(values: Mapping[str, str]) -> list[dict[str, str]]:
    """The container's env; an empty value is left out: the scripts read every optional
    variable as `${NAME:-}`, so unset and empty mean the same, and every Job and pod
    event (the spec, and its managedFields again) is ~0.5 KB smaller without the five."""
    return [{"name": k, "value": _literal(v)} for k, v in values.items() if v]


def _secret_volume(name: str, secret: str) -> dict[str, Any]:
    return {
        "name": name,
        "secret": {"secretName": secret, "items": [{"key": DOCKERCONFIG, "path": DOCKERCONFIG}]},
    }


def _common_env(settings: Settings, network: ClusterNetwork) -> dict[str, str]:
    return {
        "MOSB_PUSH_AUTHFILE": f"{PUSH_SECRET_MOUNT}/{DOCKERCONFIG}",
        "MOSB_TLS_VERIFY": "true" if settings.registry_tls_verify else "false",
        "MOSB_CA_DIR": CA_MOUNT if network.trust else "",
        "MOSB_IMAGE_FORMAT": settings.image_format,
        "MOSB_RESULT_FILE": "/dev/termination-log",
        **network.proxy_env(),  # buildah and skopeo honour them; build.sh makes build args
        **clusterfiles.common_env(),
    }


def _volumes(
    meta: Any, push_secret: str, network: ClusterNetwork, extra: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every pod's volumes: the scripts, the push secret, buildah's storage, the cluster's
    registries files, the CAs to trust when there are any; then the Job's own."""
    inputs = inputs_configmap_name(meta["annotations"][MOSB_ANNOTATION])
    volumes = [
        {
            "name": "scripts",
            "configMap": {
                "name": inputs,
                "defaultMode": 0o555,
                "items": [{"key": n, "path": n} for n in sorted(script_files())],
            },
        },
        _secret_volume("push-secret", push_secret),
        {"name": "containers-storage", "emptyDir": {}},
        clusterfiles.containers_volume(inputs),
        *extra,
    ]
    if network.trust:
        # Optional: a Job made after the ConfigMap (a late architecture, the push) may
        # know a CA the ConfigMap, written at the build's start, lacks; it skips that one.
        items = [{"key": TRUST_PREFIX + n, "path": n} for n in sorted(network.trust)]
        volumes.append({"name": "trust", "configMap": {"name": inputs, "items": items,
                                                        "optional": True}})  # fmt: skip
    return volumes


def _mounts(network: ClusterNetwork, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
        {"name": "push-secret", "mountPath": PUSH_SECRET_MOUNT, "readOnly": True},
        {"name": "containers-storage", "mountPath": "/var/lib/containers"},
        clusterfiles.containers_mount(),
        *extra,
    ]
    if network.trust:
        mounts.append({"name": "trust", "mountPath": CA_MOUNT, "readOnly": True})
    return mounts


def _container(
    name: str,
    image: str,
    script: str,
    env: dict[str, str],
    mounts: list[dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": ["/bin/bash", f"{SCRIPTS_MOUNT}/{script}"],
        "env": _env(env),
        "volumeMounts": mounts,
        "resources": {
            "requests": {"cpu": settings.build_cpu, "memory": settings.build_memory},
            "limits": {"memory": settings.build_memory_limit},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # No capability added: OpenShift's anyuid SCC, which the build ServiceAccount is
        # bound to, refuses any add ("capability may not be added"), as upstream's build
        # pod requests none. The runtime's defaults (CRI-O's and containerd's include the
        # SETUID/SETGID buildah's chroot isolation needs) apply. MKNOD is dropped as that
        # SCC requires; vfs storage makes no device nodes.
        "securityContext": {"capabilities": {"drop": ["MKNOD"]}},
    }


def _job(
    meta: Any,
    inputs: BuildInputs,
    settings: Settings,
    container: str,
    script: str,
    env: dict[str, str],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    pod_extra: dict[str, Any],
) -> dict[str, Any]:
    pod_meta = {"labels": meta["labels"], "annotations": meta["annotations"]}
    pod_spec = {
        "restartPolicy": "Never",
        "serviceAccountName": settings.build_service_account,
        "automountServiceAccountToken": False,
        "containers": [
            _container(
                container,
                inputs.builder_image,
                script,
                env,
                _mounts(inputs.network, mounts),
                settings,
            )
        ],
        "volumes": _volumes(meta, inputs.push_secret, inputs.network, volumes),
        **pod_extra,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": settings.build_backoff_limit,
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    }


def build_job(
    inputs: BuildInputs,
    mosb: str,
    uid: str,
    arch: str,
    settings: Settings,
    entitlement: str | None = None,
) -> dict[str, Any]:
    """The Job that builds `arch` natively on a node of that architecture; RUN steps see
    the files of the Secret `entitlement` (if any) under /etc/pki/entitlement, and the
    cluster's RPM repositories and keys (if any) at /etc/yum.repos.d, /etc/pki/rpm-gpg."""
    name = build_job_name(mosb, arch)
    meta = _meta(name, settings, mosb, uid, "build", arch, inputs.mosc)
    env = {
        "MOSB_ARCH": arch,
        "MOSB_CONTAINERFILE": f"{INPUTS_MOUNT}/Containerfile",
        "MOSB_TARGET_IMAGE": f"{inputs.repository}:{inputs.tag(mosb, arch)}",
        "MOSB_PULL_AUTHFILE": f"{PULL_SECRET_MOUNT}/{DOCKERCONFIG}" if inputs.pull_secret else "",
        "MOSB_ENTITLEMENT_DIR": ENTITLEMENT_MOUNT if entitlement else "",
        **clusterfiles.build_env(inputs.cluster_files),
        **_common_env(settings, inputs.network),
    }
    items = [{"key": f"Containerfile.{arch}", "path": "Containerfile"}]
    context = sorted(inputs.context_files())
    if context:  # the Containerfile COPYs these: the context is that folder
        env["MOSB_CONTEXT_DIR"] = f"{INPUTS_MOUNT}/{CONTEXT_DIR}"
        items += [{"key": context_key(p), "path": f"{CONTEXT_DIR}/{p}"} for p in context]
    volumes: list[dict[str, Any]] = [
        {"name": "inputs", "configMap": {"name": inputs_configmap_name(mosb), "items": items}}
    ]
    mounts: list[dict[str, Any]] = [{"name": "inputs", "mountPath": INPUTS_MOUNT, "readOnly": True}]
    if inputs.pull_secret:
        volumes.append(_secret_volume("pull-secret", inputs.pull_secret))
        mounts.append({"name": "pull-secret", "mountPath": PULL_SECRET_MOUNT, "readOnly": True})
    if entitlement:
        volumes.append({"name": "entitlement", "secret": {"secretName": entitlement}})
        mounts.append({"name": "entitlement", "mountPath": ENTITLEMENT_MOUNT, "readOnly": True})
    repos = clusterfiles.build_volumes(inputs.cluster_files, inputs_configmap_name(mosb))
    volumes, mounts = volumes + repos[0], mounts + repos[1]
    pod_extra = {
        "nodeSelector": {ARCH_LABEL: arch, "kubernetes.io/os": "linux"},
        "tolerations": build_tolerations(arch),
    }
    return _job(meta, inputs, settings, "build", "build.sh", env, volumes, mounts, pod_extra)


def push_job(
    inputs: BuildInputs, mosb: str, uid: str, images: Mapping[str, str], settings: Settings
) -> dict[str, Any]:
    """The Job that joins the per-architecture images (by digest) into the MOSB's list."""
    meta = _meta(push_job_name(mosb), settings, mosb, uid, "push", None, inputs.mosc)
    env = {
        "MOSB_TARGET_IMAGE": f"{inputs.repository}:{mosb}",
        "MOSB_ARCH_IMAGES": "\n".join(f"{arch} {images[arch]}" for arch in sorted(images)),
        **_common_env(settings, inputs.network),
    }
    # Any architecture can assemble the list; tolerate every architecture's taints.
    pod_extra = {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [t for arch in SUPPORTED_ARCHES for t in build_tolerations(arch)],
    }
    return _job(meta, inputs, settings, "push", "push.sh", env, [], [], pod_extra)
