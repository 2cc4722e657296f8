"""The dry run's input: plain Kubernetes objects (YAML files, or the live cluster's) turned
into the planner's `Observed`. Pure: nothing here reads a file, the cluster or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from api import (
    K8sModel,
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    Mode,
    describe_validation_error,
    published_config_name,
)
from api.names import DOCKERCONFIGJSON_TYPE as DOCKERCONFIG_TYPE
from mosb_controller import arch
from mosb_controller.planning.inputs import release_base
from mosb_controller.planning.observed import (
    ImageCheck,
    JobView,
    MosbView,
    Observed,
    PodView,
    job_view,
    mosb_view,
    pod_view,
)
from mosb_controller.settings import Settings

KINDS = (
    "MachineOSConfig",
    "MachineConfigPool",
    "MachineConfig",
    "Node",
    "MachineOSBuild",
    "Secret",
    "Job",
    "Pod",
    "ConfigMap",  # alongside-mco: the MCO's osimageurl ConfigMap
)
_M = TypeVar("_M", bound=K8sModel)


class DryRunError(ValueError):
    """Bad input: `str()` is for a person (one line, or one line per invalid field)."""


@dataclass(frozen=True)
class DryRunObserved(Observed):
    """`Observed` plus what the dry run could not see, for the notes it prints."""

    secrets_checked: bool = True
    jobs_known: bool = True
    input_notes: tuple[str, ...] = ()


def load_documents(text: str, source: str) -> list[dict[str, Any]]:
    """The objects of a YAML stream: multi-document, `kind: List` (or `NodeList`, ...)
    flattened. Raises DryRunError for YAML that is not a stream of objects."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise DryRunError(f"{source}: not valid YAML{at}: {problem}") from None
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise DryRunError(f"{source}: expected Kubernetes objects, got a {type(doc).__name__}")
        kind = str(doc.get("kind", ""))
        items = doc.get("items") if kind.endswith("List") else [doc]
        for item in items or []:
            if not isinstance(item, dict):
                raise DryRunError(f"{source}: a {kind} item is not an object")
            objects.append(item)
    return objects


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespace(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("namespace")
    return None if value is None else str(value)


def _by_kind(objects: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Objects of the kinds a dry run reads, by kind; a later copy of the same object
    (kind, namespace, name) replaces an earlier one, so a file given twice counts once."""
    unique: dict[tuple[str, str | None, str], Mapping[str, Any]] = {}
    for obj in objects:
        if not isinstance(obj, Mapping):
            raise DryRunError(f"expected Kubernetes objects, got a {type(obj).__name__}")
        kind = str(obj.get("kind", ""))
        if kind in KINDS:
            unique[(kind, _namespace(obj), _name(obj))] = obj
    grouped: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in KINDS}
    for (kind, _, _), obj in unique.items():
        grouped[kind].append(obj)
    return grouped


def pick_mosc(moscs: Sequence[Mapping[str, Any]], name: str | None) -> Mapping[str, Any]:
    """The MachineOSConfig to plan: the one named, or the only one given."""
    names = sorted(_name(m) for m in moscs)
    if name is not None:
        for mosc in moscs:
            if _name(mosc) == name:
                return mosc
        found = f" (given: {', '.join(names)})" if names else ""
        raise DryRunError(f"no MachineOSConfig {name} in the input{found}")
    if not moscs:
        raise DryRunError("no MachineOSConfig in the input")
    if len(moscs) > 1:
        raise DryRunError(
            f"several MachineOSConfigs given ({', '.join(names)}): pick one with --mosc"
        )
    return moscs[0]


def _parse(model: type[_M], obj: Mapping[str, Any]) -> _M:
    try:
        return model.from_k8s(obj)
    except ValidationError as exc:
        kind = str(obj.get("kind") or model.__name__)
        lines = describe_validation_error(exc)
        raise DryRunError(f"{kind} {_name(obj) or '<unnamed>'} is invalid:\n{lines}") from None


def observed_from_objects(
    objects: Iterable[Mapping[str, Any]],
    *,
    mosc_name: str | None,
    settings: Settings,
    now: datetime,
    registry: Mapping[str, ImageCheck] | None = None,
    secrets_checked: bool | None = None,
    jobs_known: bool | None = None,
) -> DryRunObserved:
    """What the operator would observe, from plain objects (see KINDS; others ignored).

    Secrets and Jobs count as seen when any object of that kind is given, unless
    `secrets_checked` / `jobs_known` say otherwise (the live reader knows). Unseen
    secrets are assumed to exist; unseen Jobs leave unfinished architectures as recorded.
    Raises DryRunError for input that names no MachineOSConfig, or objects the models
    or the selector rules reject.
    """
    given = _by_kind(objects)
    mosc = _parse(MachineOSConfig, pick_mosc(given["MachineOSConfig"], mosc_name))
    pool_name = mosc.spec.machine_config_pool.name
    raw_pool, pool, rendered = _pool(given, pool_name)
    record = _architectures(given["Node"], pool_name, raw_pool)
    pool_arches = record.pools.get(pool_name) if pool is not None else None
    notes = [
        f"node {node} reports architecture {raw}, which is not supported: no image"
        for node, raw in sorted(pool_arches.unsupported.items() if pool_arches else ())
    ]
    mosbs = {
        view.name: view
        for view in (mosb_view(m) for m in given["MachineOSBuild"])
        if view.mosc == mosc.name
    }
    ns, kinds = settings.namespace, ("Secret", "Job", "Pod")
    in_ns = [o for kind in kinds for o in given[kind] if _namespace(o) in (None, ns)]
    why = "Secrets could not be read" if secrets_checked is not None else "no Secret given"
    secrets_checked = bool(given["Secret"]) if secrets_checked is None else secrets_checked
    secrets = _secrets(mosc, in_ns, ns, secrets_checked, why, notes)
    jobs, pods = _jobs_and_pods(in_ns, mosbs)
    return DryRunObserved(
        mosc=mosc,
        mosc_uid=str(mosc.metadata.uid or ""),
        pool=pool,
        rendered=rendered,
        pool_arches=pool_arches,
        buildable=dict(record.cluster.buildable),
        secrets=secrets,
        mosbs=mosbs,
        jobs=jobs,
        pods=pods,
        configmaps={},
        images=dict(registry or {}),
        now=now,
        settings=settings,
        secrets_checked=secrets_checked,
        jobs_known=bool(given["Job"]) if jobs_known is None else jobs_known,
        input_notes=tuple(notes),
        **_alongside(given, settings, pool_name),
    )


def _alongside(
    given: Mapping[str, Sequence[Mapping[str, Any]]], settings: Settings, pool: str
) -> dict[str, Any]:
    """alongside-mco's two observations: the release base (osimageurl ConfigMap) and
    our MachineConfig for the pool."""
    if settings.mode is not Mode.ALONGSIDE_MCO:
        return {}
    name, ns = settings.osimageurl_configmap, settings.osimageurl_namespace
    configmap = next(
        (c for c in given["ConfigMap"] if _name(c) == name and _namespace(c) in (None, ns)), None
    )
    config = next(
        (c for c in given["MachineConfig"] if _name(c) == published_config_name(pool)), None
    )
    return {
        "release_base": release_base((configmap or {}).get("data")),
        "published": _parse(MachineConfig, config) if config is not None else None,
    }


def _pool(
    given: Mapping[str, Sequence[Mapping[str, Any]]], name: str
) -> tuple[Mapping[str, Any] | None, MachineConfigPool | None, MachineConfig | None]:
    """The pool as given, parsed, and its rendered MachineConfig."""
    raw_pool = next((p for p in given["MachineConfigPool"] if _name(p) == name), None)
    pool = _parse(MachineConfigPool, raw_pool) if raw_pool is not None else None
    config = pool.rendered_config_name if pool is not None else None
    raw_config = next((c for c in given["MachineConfig"] if _name(c) == config), None)
    rendered = _parse(MachineConfig, raw_config) if raw_config is not None else None
    return raw_pool, pool, rendered


def _architectures(
    nodes: Sequence[Mapping[str, Any]], pool_name: str, raw_pool: Mapping[str, Any] | None
) -> arch.ClusterRecord:
    facts = [arch.node_facts(n) for n in nodes]
    selectors = {pool_name: (raw_pool.get("spec") or {}).get("nodeSelector")} if raw_pool else {}
    record = arch.detect(facts, selectors)
    if pool_name in record.invalid_pools:
        raise DryRunError(
            f"MachineConfigPool {pool_name}: spec.nodeSelector: {record.invalid_pools[pool_name]}"
        )
    return record


def _secrets(
    mosc: MachineOSConfig,
    in_ns: Sequence[Mapping[str, Any]],
    ns: str,
    checked: bool,
    why: str,
    notes: list[str],
) -> dict[str, str]:
    """Secret name → type; unchecked ones are assumed to be what the operator wants."""
    if checked:
        return {_name(s): str(s.get("type", "")) for s in in_ns if s.get("kind") == "Secret"}
    wanted = [mosc.spec.rendered_image_push_secret.name]
    if mosc.spec.base_image_pull_secret is not None:
        wanted.append(mosc.spec.base_image_pull_secret.name)
    notes.append(
        f"secrets not checked ({why}): {', '.join(sorted(set(wanted)))} "
        f"assumed to exist in namespace {ns}"
    )
    return dict.fromkeys(wanted, DOCKERCONFIG_TYPE)


def _jobs_and_pods(
    in_ns: Sequence[Mapping[str, Any]], mosbs: Mapping[str, MosbView]
) -> tuple[dict[str, JobView], dict[str, tuple[PodView, ...]]]:
    jobs = {
        job.name: job
        for job in (job_view(o) for o in in_ns if o.get("kind") == "Job")
        if job.mosb in mosbs
    }
    pods: dict[str, list[PodView]] = {}
    for pod in (pod_view(o) for o in in_ns if o.get("kind") == "Pod"):
        if pod.job in jobs:
            pods.setdefault(pod.job, []).append(pod)
    return jobs, {name: tuple(found) for name, found in pods.items()}
