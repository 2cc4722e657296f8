"""Builders of the objects the unit and integration tests feed the controller: the
MachineOSConfig, its pool and rendered MachineConfig (as API bodies or as models), and
the observed state planning starts from. One builder per object; each test keeps only
the values it is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from api import MachineConfig, MachineConfigPool, MachineOSConfig
from mosb_controller import arch
from mosb_controller.arch import SUPPORTED_ARCHES
from mosb_controller.planning.observed import ImageCheck, Observed, RegistryAnswer
from mosb_controller.planning.plan import Plan
from mosb_controller.settings import Settings

GROUP_VERSION = "machineconfiguration.openshift.io/v1"
REPO = "registry.example.com/ocl/worker"
ARCHES = SUPPORTED_ARCHES  # the API\'s enum, in its order
DIGEST = {a: "sha256:" + f"{i:x}" * 64 for i, a in enumerate(ARCHES, start=1)}
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def mosc_body(
    entries: Sequence[tuple[str, str]] = (("NoArch", "RUN echo hi"),),
    *,
    name: str = "worker",
    pool: str | None = None,
    pull_secret: str | None = None,
    push_secret: str = "push",  # noqa: S107 - a Secret's name
    push_spec: str = f"{REPO}:latest",
    **metadata: Any,
) -> dict[str, Any]:
    """A MachineOSConfig as the API serves it: named after its pool (unless `pool` says
    otherwise), one containerFile entry per (containerfileArch, content) of `entries`;
    `metadata` adds to its metadata (uid, generation, annotations...)."""
    spec: dict[str, Any] = {
        "machineConfigPool": {"name": name if pool is None else pool},
        "imageBuilder": {"imageBuilderType": "Job"},
        "renderedImagePushSecret": {"name": push_secret},
        "renderedImagePushSpec": push_spec,
        "containerFile": [{"containerfileArch": a, "content": c} for a, c in entries],
    }
    if pull_secret:
        spec["baseImagePullSecret"] = {"name": pull_secret}
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "MachineOSConfig",
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def pool_body(
    name: str = "worker",
    node_selector: Mapping[str, Any] | None = None,
    machine_config_selector: Mapping[str, Any] | None = None,
    rendered: str | None = None,
) -> dict[str, Any]:
    """A MachineConfigPool whose configuration is `rendered` (default `rendered-<name>-1`);
    its nodeSelector selects nodes labelled pool=<name> unless `node_selector` is given."""
    selector = {"matchLabels": {"pool": name}} if node_selector is None else dict(node_selector)
    spec: dict[str, Any] = {"nodeSelector": selector}
    if machine_config_selector is not None:
        spec["machineConfigSelector"] = dict(machine_config_selector)
    spec["configuration"] = {"name": rendered or f"rendered-{name}-1"}
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "MachineConfigPool",
        "metadata": {"name": name},
        "spec": spec,
    }


def rendered_body(
    pool: str = "worker", os_image: str = "quay.io/openshift/rhcos@sha256:" + "0" * 64
) -> dict[str, Any]:
    """The pool's rendered MachineConfig `rendered-<pool>-1`."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "MachineConfig",
        "metadata": {"name": f"rendered-{pool}-1"},
        "spec": {"osImageURL": os_image},
    }


# -- models, and the observed state planning starts from -----------------------------------
def mosc(
    entries: Sequence[tuple[str, str]] = (("NoArch", "RUN echo hi"),),
    annotations: Mapping[str, str] | None = None,
    pull_secret: str | None = None,
) -> MachineOSConfig:
    body = mosc_body(
        entries, pull_secret=pull_secret, generation=3, annotations=dict(annotations or {})
    )
    return MachineOSConfig.from_k8s(body)


POOL = MachineConfigPool.from_k8s(pool_body(node_selector={}))
RENDERED = MachineConfig.from_k8s(
    rendered_body(os_image="registry.example.com/rhcos@sha256:" + "0" * 64)
)


EXTENSIONS_IMAGE = "registry.example.com/rhcos-extensions@sha256:" + "9" * 64


def rendered_os(
    name: str = "rendered-worker-1",
    *,
    files: Mapping[str, str] | None = None,
    extensions: Sequence[str] = (),
    kernel_type: str = "",
    kernel_arguments: Sequence[str] = (),
    extensions_image: str = EXTENSIONS_IMAGE,
) -> MachineConfig:
    """A rendered MachineConfig with what builder mode bakes in: Ignition files (path →
    contents), extensions, a kernel type and arguments, the release's extensions image."""
    storage = [{"path": p, "contents": {"source": f"data:,{c}"}, "mode": 420}
               for p, c in (files or {"/etc/motd": "hello"}).items()]  # fmt: skip
    body = rendered_body(os_image=RENDERED.spec.os_image_url)
    body["metadata"]["name"] = name
    body["spec"] |= {
        "baseOSExtensionsContainerImage": extensions_image,
        "config": {"ignition": {"version": "3.5.0"}, "storage": {"files": storage}},
        "extensions": list(extensions),
        "kernelType": kernel_type,
        "kernelArguments": list(kernel_arguments),
    }
    return MachineConfig.from_k8s(body)


def pool_on(rendered: str) -> MachineConfigPool:
    """The pool (selecting every node) moving to the rendered config `rendered`."""
    return MachineConfigPool.from_k8s(pool_body(node_selector={}, rendered=rendered))


def summary(arches: Sequence[str]) -> arch.ArchSummary:
    unique = tuple(sorted(set(arches)))
    return arch.ArchSummary(unique, dict.fromkeys(unique, 1), dict.fromkeys(unique, 1))


def observed(**changes: Any) -> Observed:
    base = Observed(
        mosc=mosc(),
        mosc_uid="uid-mosc",
        pool=POOL,
        rendered=RENDERED,
        pool_arches=summary(ARCHES),
        buildable=dict.fromkeys(ARCHES, 1),
        secrets={"push": "kubernetes.io/dockerconfigjson"},
        mosbs={},
        jobs={},
        pods={},
        configmaps={},
        images={},
        now=NOW,
        settings=Settings(namespace="mosb"),
    )
    return replace(base, **changes)


def absent_everywhere(plan: Plan) -> dict[str, ImageCheck]:
    return {ref: ImageCheck(RegistryAnswer.ABSENT) for ref in plan.image_checks}
