"""Dry run: what would this edit build? Pure core, thin edges.

`observed_from_objects` turns plain Kubernetes objects (from YAML files or the live
cluster) into the planner's `Observed`; `complete_plan` runs the operator's own
`plan_mosc` until it needs no more registry answers, so the result is the decision the
operator would take; `render_table` and `render_json` show it. Nothing here writes.

A dry run needs no registry credentials: by default an image an earlier MachineOSBuild
recorded (by digest, or the tag a recorded build pushed) is assumed to exist and any
other tag to be absent, and the output says so. `skopeo_answers` asks the registry
instead. The edges (`skopeo_answers`, `live_objects`) are at the end of the module.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from api import (
    MACHINE_OS_CONFIG_LABEL,
    REBUILD_ANNOTATION,
    RETRY_FAILED_ANNOTATION,
    ArchBuildPhase,
    ArchBuildRecord,
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    describe_validation_error,
)
from api.base import K8sModel
from api.names import BUILD_OBJECT_LABEL
from mosb_controller import arch
from mosb_controller.planning.arch_state import describe
from mosb_controller.planning.observed import (
    ImageCheck,
    JobView,
    MosbView,
    PodView,
    RegistryAnswer,
    job_view,
    mosb_view,
    pod_view,
)
from mosb_controller.planning.plan import DOCKERCONFIG_TYPE, ArchDecision, Observed, Plan, plan_mosc
from mosb_controller.settings import Settings

SHORT_KEY = 12
ASSUMED_EXISTS = "assumed to exist (not checked)"
ASSUMED_ABSENT = "assumed absent (not checked)"
KINDS = (
    "MachineOSConfig",
    "MachineConfigPool",
    "MachineConfig",
    "Node",
    "MachineOSBuild",
    "Secret",
    "Job",
    "Pod",
)
Answerer = Callable[[str], ImageCheck]
_M = TypeVar("_M", bound=K8sModel)
_O = TypeVar("_O", bound=Observed)


class DryRunError(ValueError):
    """Bad input: `str()` is for a person (one line, or one line per invalid field)."""


@dataclass(frozen=True)
class DryRunObserved(Observed):
    """`Observed` plus what the dry run could not see, for the notes it prints."""

    secrets_checked: bool = True
    jobs_known: bool = True
    input_notes: tuple[str, ...] = ()


# -- input -----------------------------------------------------------------------------


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
    raw_pool = next((p for p in given["MachineConfigPool"] if _name(p) == pool_name), None)
    pool = _parse(MachineConfigPool, raw_pool) if raw_pool is not None else None
    rendered = None
    if pool is not None:
        config = pool.spec.configuration.name or pool.status.configuration.name
        raw_config = next((c for c in given["MachineConfig"] if _name(c) == config), None)
        rendered = _parse(MachineConfig, raw_config) if raw_config is not None else None

    nodes = [arch.node_facts(n) for n in given["Node"]]
    selectors = {pool_name: (raw_pool.get("spec") or {}).get("nodeSelector")} if raw_pool else {}
    record = arch.detect(nodes, selectors)
    if pool_name in record.invalid_pools:
        raise DryRunError(
            f"MachineConfigPool {pool_name}: spec.nodeSelector: {record.invalid_pools[pool_name]}"
        )
    pool_arches = record.pools.get(pool_name) if pool is not None else None

    notes: list[str] = []
    if pool_arches is not None:
        for node, raw in sorted(pool_arches.unsupported.items()):
            notes.append(
                f"node {node} reports architecture {raw}, which is not supported: no image"
            )

    mosbs = {
        view.name: view
        for view in (mosb_view(m) for m in given["MachineOSBuild"])
        if view.mosc == mosc.name
    }

    ns = settings.namespace
    in_ns = [
        o for kind in ("Secret", "Job", "Pod") for o in given[kind] if _namespace(o) in (None, ns)
    ]
    why = "Secrets could not be read"
    if secrets_checked is None:
        secrets_checked, why = bool(given["Secret"]), "no Secret given"
    wanted = [mosc.spec.rendered_image_push_secret.name]
    if mosc.spec.base_image_pull_secret is not None:
        wanted.append(mosc.spec.base_image_pull_secret.name)
    if secrets_checked:
        secrets = {_name(s): str(s.get("type", "")) for s in in_ns if s.get("kind") == "Secret"}
    else:
        secrets = dict.fromkeys(wanted, DOCKERCONFIG_TYPE)
        notes.append(
            f"secrets not checked ({why}): {', '.join(sorted(set(wanted)))} "
            f"assumed to exist in namespace {ns}"
        )

    if jobs_known is None:
        jobs_known = bool(given["Job"])
    jobs: dict[str, JobView] = {}
    pods: dict[str, list[PodView]] = {}
    for obj in in_ns:
        if obj.get("kind") == "Job":
            job = job_view(obj)
            if job.mosb in mosbs:
                jobs[job.name] = job
    for obj in in_ns:
        if obj.get("kind") == "Pod":
            pod = pod_view(obj)
            if pod.job in jobs:
                pods.setdefault(pod.job, []).append(pod)

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
        pods={name: tuple(found) for name, found in pods.items()},
        configmaps={},
        images=dict(registry or {}),
        now=now,
        settings=settings,
        secrets_checked=secrets_checked,
        jobs_known=jobs_known,
        input_notes=tuple(notes),
    )


# -- planning --------------------------------------------------------------------------


def assumed_answers(obs: Observed) -> Answerer:
    """Registry answers without asking the registry: images the MachineOSBuilds' records
    name exist (by digest; and the tag a recorded build pushed), every other tag is
    absent. The answers' details say they are assumptions."""
    known: dict[str, str] = {}
    for mosb in obs.mosbs.values():
        for arch_name, record in mosb.records.items():
            if not (record.phase.has_image and record.image and record.digest):
                continue
            known[record.image] = record.digest
            if record.phase is ArchBuildPhase.SUCCEEDED:  # it pushed its own tag
                repository = record.image.rsplit("@", 1)[0]
                tag = mosb.name if len(mosb.records) == 1 else f"{mosb.name}-{arch_name}"
                known[f"{repository}:{tag}"] = record.digest

    def answer(ref: str) -> ImageCheck:
        digest = known.get(ref)
        if digest is not None:
            return ImageCheck(RegistryAnswer.EXISTS, digest, ASSUMED_EXISTS)
        return ImageCheck(RegistryAnswer.ABSENT, detail=ASSUMED_ABSENT)

    return answer


def _removed_first(obs: Observed, plan: Plan) -> set[str]:
    """MachineOSBuilds the operator deletes (or that are going) before it creates one."""
    return set(plan.delete_mosbs) | {m.name for m in obs.mosbs.values() if m.deleting}


def _unseen_job(record: ArchBuildRecord) -> bool:
    return not record.phase.is_finished and record.job is not None


def _as_recorded(decisions: Iterable[ArchDecision], mosb: MosbView) -> list[ArchDecision]:
    """The decisions, with each architecture whose Job ran but is unseen shown as its
    record stands (advancing it without its Job would call it interrupted)."""
    shown = []
    for decision in decisions:
        record = mosb.records.get(decision.arch)
        if record is not None and _unseen_job(record):
            decision = ArchDecision(record.arch, "in progress", record.key, describe(record))
        shown.append(decision)
    return shown


def complete_plan(obs: _O, answer: Answerer | None = None) -> tuple[Plan, _O]:
    """The operator's plan once every registry question is answered, and `obs` with the
    answers. When the operator would first delete MachineOSBuilds (one active build per
    MachineOSConfig, a rebuild or a retry), the plan is the one it makes after that:
    the decisions about the MachineOSBuild it then creates."""
    answer = answer if answer is not None else assumed_answers(obs)
    images = dict(obs.images)
    first = plan_mosc(obs)
    if first.refusal is not None:
        return first, obs
    removed = _removed_first(obs, first)
    after = replace(obs, mosbs={n: m for n, m in obs.mosbs.items() if n not in removed})
    rounds = len(obs.mosbs) + 3  # an architecture has one candidate per MOSB, plus its tag
    for _ in range(rounds):
        plan = plan_mosc(replace(after, images=images))
        if not plan.image_checks:
            break
        for ref in plan.image_checks:
            if ref not in images:
                images[ref] = answer(ref)
    else:
        raise RuntimeError(f"registry questions did not settle after {rounds} rounds")
    current = after.mosbs.get(plan.mosb_name or "")
    if current is not None and isinstance(obs, DryRunObserved) and not obs.jobs_known:
        plan = replace(plan, decisions=_as_recorded(plan.decisions, current))
    return plan, replace(obs, images=images)


# -- output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MosbOutcome:
    name: str | None
    exists: bool
    action: str | None  # create | recreate | keep; None when refused
    text: str


def mosb_outcome(plan: Plan, obs: Observed) -> MosbOutcome:
    name = plan.mosb_name
    if name is None:
        return MosbOutcome(None, False, None, "none")
    annotations = obs.mosc.metadata.annotations or {}
    current = obs.mosbs.get(name)
    if current is None:
        why = " (rebuild requested)" if REBUILD_ANNOTATION in annotations else ""
        return MosbOutcome(name, False, "create", f"would be created{why}")
    if current.deleting:
        return MosbOutcome(name, True, "recreate", "being deleted; would be created again")
    if REBUILD_ANNOTATION in annotations and not current.fresh:
        return MosbOutcome(name, True, "recreate", "would be recreated (rebuild requested)")
    if RETRY_FAILED_ANNOTATION in annotations and current.terminal in ("Failed", "Interrupted"):
        return MosbOutcome(
            name, True, "recreate", "would be recreated (retry of the failed architectures)"
        )
    state = current.terminal or next(
        (t for t in ("Building", "Prepared") if current.condition_true(t)), "no status yet"
    )
    return MosbOutcome(name, True, "keep", f"exists already ({state})")


def notes(plan: Plan, obs: Observed) -> list[str]:
    """What a person should know about how the answer was reached, in a fixed order."""
    dry = obs if isinstance(obs, DryRunObserved) else None
    found = list(dry.input_notes) if dry else []
    desired = plan.mosb_name or ""
    others = sorted(m.name for m in obs.mosbs.values() if m.name != desired and m.terminal is None)
    if plan.refusal is None and others:
        found.append(
            f"first removes unfinished MachineOSBuild {', '.join(others)} "
            "(one active build per MachineOSConfig)"
        )
    timeout = obs.settings.no_node_timeout_seconds
    for decision in plan.decisions:
        if decision.action == "build" and obs.buildable.get(decision.arch, 0) <= 0:
            found.append(
                f"no Ready, schedulable {decision.arch} node now: its build would wait, "
                f"and fail after {timeout}s"
            )
    current = obs.mosbs.get(desired) if mosb_outcome(plan, obs).action == "keep" else None
    unseen = current is not None and any(_unseen_job(r) for r in current.records.values())
    if unseen and dry is not None and not dry.jobs_known:
        found.append("Jobs not seen: architectures whose Job ran are shown as recorded")
    assumed = sorted(ref for ref, a in obs.images.items() if a.detail == ASSUMED_EXISTS)
    if any(a.detail in (ASSUMED_EXISTS, ASSUMED_ABSENT) for a in obs.images.values()):
        found.append(
            "registry not checked (--check-registry to check): images the MachineOSBuilds "
            "recorded are assumed to exist, other tags to be absent"
        )
    found += [f"{ref}: {ASSUMED_EXISTS}" for ref in assumed]
    return found


def _rows(plan: Plan) -> list[ArchDecision]:
    return sorted(plan.decisions, key=lambda d: d.arch)


def render_json(plan: Plan, obs: Observed) -> dict[str, Any]:
    outcome = mosb_outcome(plan, obs)
    refusal = plan.refusal
    return {
        "machineOSConfig": obs.mosc.name,
        "machineOSBuild": outcome.name,
        "exists": outcome.exists,
        "machineOSBuildAction": outcome.action,
        "architectures": [
            {"arch": d.arch, "action": d.action, "key": d.key, "reason": d.reason}
            for d in _rows(plan)
        ],
        "refusal": None
        if refusal is None
        else {"reason": refusal.reason, "message": refusal.message},
        "notes": notes(plan, obs),
    }


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def render_table(plan: Plan, obs: Observed) -> str:
    outcome = mosb_outcome(plan, obs)
    head = [["MachineOSConfig", obs.mosc.name]]
    if plan.refusal is not None:
        head.append(["Refused", f"{plan.refusal.reason}: {plan.refusal.message}"])
    else:
        rows = _rows(plan)
        head.append(["MachineOSBuild", f"{outcome.name}  {outcome.text}"])
        head.append(["Architectures", ", ".join(d.arch for d in rows) or "-"])
    lines = _table(head)
    if plan.refusal is None:
        body = [["ARCH", "ACTION", "KEY", "REASON"]]
        body += [[d.arch, d.action, d.key[:SHORT_KEY], d.reason] for d in _rows(plan)]
        lines += ["", *_table(body)]
    found = notes(plan, obs)
    if found:
        lines += ["", "Notes:", *(f"  - {note}" for note in found)]
    return "\n".join(lines) + "\n"


# -- edges: the registry and the cluster -----------------------------------------------


def skopeo_answers(
    authfile: Path | None, *, tls_verify: bool, skopeo: str = "skopeo", timeout: float = 30
) -> Answerer:
    """Real registry answers: `skopeo inspect --raw`, classified as the operator does."""
    from mosb_controller.cluster.imagecheck import classify  # imports the API client: only here

    def answer(ref: str) -> ImageCheck:
        argv = [skopeo, "inspect", "--raw", "--retry-times=1"]
        argv.append(f"--tls-verify={'true' if tls_verify else 'false'}")
        if authfile is not None:
            argv.append(f"--authfile={authfile}")
        argv += ["--", f"docker://{ref}"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ImageCheck(RegistryAnswer.UNKNOWN, detail=f"skopeo: {type(exc).__name__}")
        return classify(done.returncode, done.stdout, done.stderr.decode(errors="replace"))

    return answer


@dataclass(frozen=True)
class LiveObjects:
    objects: list[dict[str, Any]]
    secrets_checked: bool  # False when reading the Secrets was forbidden
    jobs_known: bool  # False when listing our Jobs and Pods was forbidden


def live_objects(client: Any, mosc_name: str | None, namespace: str) -> LiveObjects:
    """Read what a dry run needs from the cluster (reads only): the MachineOSConfig, its
    pool and rendered MachineConfig, all Nodes, the MOSC's MachineOSBuilds, our Jobs and
    Pods in `namespace`, and the MOSC's Secrets reduced to name and type (their data is
    dropped at once). A 404 leaves an object out: the plan says what is missing."""
    import kubernetes
    from kubernetes.client import ApiException

    from api import GROUP, VERSION

    custom = kubernetes.client.CustomObjectsApi(client)
    core = kubernetes.client.CoreV1Api(client)
    batch = kubernetes.client.BatchV1Api(client)

    def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = call(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = json.loads(response.data)
        return data if isinstance(data, dict) else None

    def listed(kind: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        token = None
        while True:
            page = raw(call, *args, limit=500, _continue=token, **kwargs) or {}
            items += [{**item, "kind": kind} for item in page.get("items") or []]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def cluster(plural: str, name: str) -> dict[str, Any] | None:
        return raw(custom.get_cluster_custom_object, GROUP, VERSION, plural, name)

    def forbidden(exc: ApiException) -> bool:
        return exc.status in (401, 403)

    if mosc_name is not None:
        found = cluster("machineosconfigs", mosc_name)
        if found is None:
            raise DryRunError(f"MachineOSConfig {mosc_name} not found")
        moscs = [found]
    else:
        moscs = listed(
            "MachineOSConfig", custom.list_cluster_custom_object, GROUP, VERSION, "machineosconfigs"
        )
    mosc = dict(pick_mosc(moscs, mosc_name))
    spec = mosc.get("spec") or {}
    objects: list[dict[str, Any]] = [mosc]

    pool_name = (spec.get("machineConfigPool") or {}).get("name")
    pool = cluster("machineconfigpools", str(pool_name)) if pool_name else None
    if pool is not None:
        objects.append(pool)
        wanted = (pool.get("spec") or {}).get("configuration") or {}
        current = (pool.get("status") or {}).get("configuration") or {}
        config = wanted.get("name") or current.get("name")
        rendered = cluster("machineconfigs", str(config)) if config else None
        if rendered is not None:
            objects.append(rendered)
    objects += listed("Node", core.list_node)
    selector = f"{MACHINE_OS_CONFIG_LABEL}={_name(mosc)}"
    objects += listed(
        "MachineOSBuild",
        custom.list_cluster_custom_object,
        GROUP,
        VERSION,
        "machineosbuilds",
        label_selector=selector,
    )
    ours = f"{BUILD_OBJECT_LABEL}=true"
    jobs_known = True
    try:
        objects += listed("Job", batch.list_namespaced_job, namespace, label_selector=ours)
        objects += listed("Pod", core.list_namespaced_pod, namespace, label_selector=ours)
    except ApiException as exc:
        if not forbidden(exc):
            raise
        objects = [o for o in objects if o["kind"] not in ("Job", "Pod")]
        jobs_known = False
    secrets_checked = True
    for ref in ("renderedImagePushSecret", "baseImagePullSecret"):
        name = (spec.get(ref) or {}).get("name")
        try:
            secret = raw(core.read_namespaced_secret, name, namespace) if name else None
        except ApiException as exc:
            if not forbidden(exc):
                raise
            secrets_checked = False
            continue
        if secret is not None:  # keep the type; the data goes out of scope here
            meta = {"name": name, "namespace": namespace}
            objects.append({"kind": "Secret", "metadata": meta, "type": secret.get("type", "")})
    if not secrets_checked:
        objects = [o for o in objects if o["kind"] != "Secret"]
    return LiveObjects(objects, secrets_checked, jobs_known)
