"""kopf handlers: thin. Index what we watch, notice changes, wake the level-triggered loops.

kopf fills every index before it calls any handler, so the first pass sees every pool.
Nodes come from `informer.NodeInformer` (see there why not kopf). No handler here stores
state on the watched objects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import kopf
from pydantic import ValidationError

from api import (
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    Mode,
    build_group,
    describe_validation_error,
)
from api.names import (
    BUILD_OBJECT_LABEL,
    BUILD_UID_LABEL,
    GROUP,
    MACHINE_CONFIG_POOLS,
    MACHINE_CONFIGS,
    MACHINE_OS_BUILDS,
    MACHINE_OS_CONFIGS,
    MOSB_ANNOTATION,
    MOSC_ANNOTATION,
    VERSION,
)
from mosb_controller.arch.writes import PoolView, Seen, pool_view
from mosb_controller.cluster.imagecheck import ImageChecker
from mosb_controller.cluster.informer import NodeInformer
from mosb_controller.cluster.kube import Writer, load_api_client
from mosb_controller.cluster.network import watched_configmaps
from mosb_controller.cluster.osimageurl import OsImageUrlWatch
from mosb_controller.planning.observed import (
    JobView,
    MosbView,
    PodView,
    job_view,
    mosb_view,
    mosc_of_mosb,
    pod_view,
)
from mosb_controller.runtime.builds import BuildLoop
from mosb_controller.runtime.leader import Leadership
from mosb_controller.runtime.metrics import Metrics
from mosb_controller.runtime.recorder import RECORD_LABELS, ArchitectureRecorder
from mosb_controller.runtime.written import OwnWrites
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
POOLS = (GROUP, VERSION, MACHINE_CONFIG_POOLS)


def configure(settings: Settings) -> None:
    """Set before kopf starts: the handlers read it from here. The MachineOSConfig and
    MachineOSBuild handlers are registered here, in the group the mode acts on (once a
    process: kopf's registry is global)."""
    global _settings
    _settings = settings
    group = build_group(settings.mode)
    mosc, mosb = (group, VERSION, MACHINE_OS_CONFIGS), (group, VERSION, MACHINE_OS_BUILDS)
    kopf.index(*mosc)(mosc_index)
    kopf.index(*mosb)(mosb_index)
    kopf.on.event(*mosc)(on_mosc)
    kopf.on.event(*mosb)(on_mosb)


_settings = Settings()


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf computes every object's essence (a deep copy) on every event, for change
    handlers (on.create/update/...). We have none: indexes and on.event only."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own, meaningful events
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.connect_timeout = 10
    settings.watching.chunk_size = 500  # list large clusters in pages: a lower memory peak
    # kopf's per-object worker keeps the object's last event (decoded, ~25 KB for a Job or
    # pod) while it waits out `idle_timeout` for the next one: 5 s by default, so the last
    # event of every Job and pod that changed in the last 5 s stays in memory. In the
    # scale benchmark that was the operator's peak: 153 MB, 24 MB of it decoded events.
    # At 1 s: 131 MB. The cost: a new worker task for an object's event after a lull.
    settings.queueing.idle_timeout = 1.0
    memo.settings = _settings
    memo.kube = writer = Writer(load_api_client(), mode=_settings.mode)
    own_writes = OwnWrites()  # one memory of our writes for both loops
    # Followers watch and index like the leader, so a takeover starts warm; only the
    # leader's loops run passes (both queues wait for `leading`).
    memo.leadership = leadership = Leadership(writer, _settings)
    memo.recorder = recorder = ArchitectureRecorder(
        writer, _settings, own_writes, leading=leadership.leading
    )
    memo.metrics = metrics = Metrics()
    metrics.watch_pools(lambda: recorder.record)
    recorder.on_error = lambda: metrics.reconcile_errors.labels("architectures", "api").inc()
    checker = ImageChecker(writer, _settings)
    asyncio.get_running_loop().run_in_executor(None, _skopeo_ready, checker)
    memo.builds = builds = BuildLoop(
        writer,
        _settings,
        checker,
        lambda: recorder.record,
        metrics,
        own_writes,
        leading=leadership.leading,
    )
    metrics.serve(_settings.metrics_address, _settings.metrics_port)
    recorder.on_change = builds.enqueue_all
    metrics.builds.active = leadership.leading.is_set
    leadership.start(asyncio.get_running_loop())
    memo.informer = NodeInformer(memo.kube.client, recorder.node_changed, recorder.nodes_listed)
    memo.informer.start(asyncio.get_running_loop())
    memo.osimageurl = None
    if _settings.mode is Mode.ALONGSIDE_MCO:
        memo.osimageurl = OsImageUrlWatch(
            memo.kube.client,
            _settings.osimageurl_namespace,
            _settings.osimageurl_configmap,
            builds.base_changed,
        )
        memo.osimageurl.start(asyncio.get_running_loop())


def _skopeo_ready(checker: ImageChecker) -> None:
    version = checker.skopeo.version()
    if version is None:
        log.error("skopeo cannot run: every image check will be unknown, so nothing is reused")
    else:
        log.info("image checks with %s", version)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.informer.stop()
    if memo.osimageurl is not None:
        memo.osimageurl.stop()
    await memo.recorder.stop()
    await memo.builds.stop()
    memo.metrics.stop()
    await memo.leadership.stop()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


# -- indexes ---------------------------------------------------------------------------
# Every index function is `async` though none awaits: kopf runs a sync handler in its
# thread pool, one hop per event per index. These only pick fields out of the body: the
# hop cost more than the work. py-spy over a scale benchmark run: samples in the
# operator's threads 332 -> 217.
@kopf.index(*POOLS)
async def pool_index(name: str, body: kopf.Body, **_: Any) -> dict[str, PoolView]:
    return {name: pool_view(body)}


@kopf.index("configmaps", labels=RECORD_LABELS)
async def configmap_index(name: str, body: kopf.Body, **_: Any) -> dict[str, Seen]:
    version = str(body.get("metadata", {}).get("resourceVersion", ""))
    return {name: Seen(version, dict(body.get("data") or {}))}


def _recorder(memo: kopf.Memo, **indexes: Any) -> ArchitectureRecorder:
    recorder: ArchitectureRecorder = memo.recorder
    recorder.observe(indexes["pool_index"], indexes["configmap_index"])
    return recorder


def _only(store: Any) -> Any:
    return next(iter(store), None) if store is not None else None


# -- events: notice, compare, wake -----------------------------------------------------
@kopf.on.event(*POOLS)
async def on_pool(name: str, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    view = None if type == "DELETED" else _only(kwargs["pool_index"].get(name))
    _recorder(memo, **kwargs).pool_changed(name, view)


@kopf.on.event("configmaps", labels=RECORD_LABELS)
async def on_configmap(memo: kopf.Memo, **kwargs: Any) -> None:
    _recorder(memo, **kwargs).wake()


# -- builds ------------------------------------------------------------------------------
CONFIGS = (GROUP, VERSION, MACHINE_CONFIGS)
OURS = {BUILD_OBJECT_LABEL: "true"}


def _builds(memo: kopf.Memo, **indexes: Any) -> BuildLoop:
    controller: BuildLoop = memo.builds
    i = controller.indexes
    i.moscs, i.mosbs, i.pools = indexes["mosc_index"], indexes["mosb_index"], indexes["mcp_index"]
    i.configs, i.jobs, i.pods = indexes["config_index"], indexes["job_index"], indexes["pod_index"]
    i.secrets, i.configmaps = indexes["secret_index"], indexes["inputs_index"]
    i.copies, i.trust = indexes["copy_index"], indexes["trust_index"]
    return controller


async def mosc_index(
    name: str, uid: str, body: kopf.Body, logger: kopf.Logger, **_: Any
) -> dict[str, tuple[str, MachineOSConfig | str]]:
    try:
        return {name: (uid, MachineOSConfig.from_k8s(body))}
    except ValidationError as exc:
        return {name: (uid, describe_validation_error(exc))}


async def mosb_index(body: kopf.Body, **_: Any) -> dict[str, MosbView]:
    view = mosb_view(body)
    return {view.mosc: view}


@kopf.index(*POOLS)
async def mcp_index(
    name: str, body: kopf.Body, **_: Any
) -> dict[str, tuple[str, MachineConfigPool]]:
    return {name: (name, MachineConfigPool.from_k8s(body))}


@kopf.index(*CONFIGS)
async def config_index(name: str, body: kopf.Body, **_: Any) -> dict[str, MachineConfig]:
    return {name: MachineConfig.from_k8s(body)}


@kopf.index("batch", "v1", "jobs", labels=OURS)
async def job_index(name: str, body: kopf.Body, **_: Any) -> dict[str, JobView]:
    view = job_view(body)  # by MOSC: a pass reads its own Jobs, not every Job
    return {view.mosc: view}


@kopf.index("pods", labels=OURS)
async def pod_index(body: kopf.Body, **_: Any) -> dict[str, PodView]:
    view = pod_view(body)
    return {view.job: view}


@kopf.index("secrets")
async def secret_index(name: str, body: kopf.Body, **_: Any) -> dict[str, str]:
    return {name: str(body.get("type", ""))}


@kopf.index("secrets", labels=OURS)
async def copy_index(name: str, body: kopf.Body, **_: Any) -> dict[str, tuple[str, str]]:
    """The builds' Secret copies by MOSC: (name, the uid on BUILD_UID_LABEL)."""
    meta = body.get("metadata", {})
    labelled = str((meta.get("labels") or {}).get(BUILD_UID_LABEL, ""))
    return {_mosc_of(body): (name, labelled)}


@kopf.index("configmaps", labels={BUILD_OBJECT_LABEL: kopf.ABSENT})  # not each build's inputs
async def trust_index(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, Any] | None:
    """The CA ConfigMaps of our namespace the builds trust, whole: the network reader takes
    them from here, not with a GET every few seconds of passes."""
    if (namespace, name) not in watched_configmaps(_settings):
        return None
    return {name: dict(body.get("data") or {})}


@kopf.index("configmaps", labels=OURS)
async def inputs_index(name: str, body: kopf.Body, **_: Any) -> dict[str, tuple[str, str]]:
    """The builds' inputs ConfigMaps by MOSC: (name, owner uid). The owner matters: a
    ConfigMap of an earlier MOSB of the same name (rebuild, retry) lingers until garbage
    collection and is not this build's."""
    owners = body.get("metadata", {}).get("ownerReferences") or []
    return {
        _mosc_of(body): (name, next((str(o["uid"]) for o in owners if o.get("controller")), ""))
    }


def _mosc_of(body: kopf.Body) -> str:
    # Keyed by their MOSC, a pass reads its own build objects, not the namespace's.
    return str((body.get("metadata", {}).get("annotations") or {}).get(MOSC_ANNOTATION, ""))


@kopf.on.event("configmaps", labels=OURS)
async def on_inputs(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _enqueue_for(_builds(memo, **kwargs), body)


async def on_mosc(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    _builds(memo, **kwargs).enqueue(name)


async def on_mosb(body: kopf.Body, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    controller, mosc = _builds(memo, **kwargs), mosc_of_mosb(body)  # mosb_index made the view
    if type == "DELETED":  # its images may be prunable now, whoever deleted it
        controller.pruner.due(mosc)
    controller.enqueue(mosc)


def _enqueue_for(controller: BuildLoop, body: kopf.Body) -> None:
    """Wake the MOSC a Job, Pod or ConfigMap of ours belongs to."""
    annotations = body.get("metadata", {}).get("annotations") or {}
    mosc = annotations.get(MOSC_ANNOTATION)
    if mosc:
        controller.enqueue(mosc)
        return
    mosb = annotations.get(MOSB_ANNOTATION, "")
    for name, store in controller.indexes.mosbs.items():
        if any(view.name == mosb for view in store):
            controller.enqueue(name)


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
async def on_job(body: kopf.Body, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    view, controller = job_view(body), _builds(memo, **kwargs)
    if type == "DELETED":
        controller.job_deleted(view.name, view.owner_uid)
    _enqueue_for(controller, body)


@kopf.on.event("pods", labels=OURS)
async def on_pod(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _enqueue_for(_builds(memo, **kwargs), body)


@kopf.on.event(*POOLS)
async def on_pool_for_builds(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _builds(memo, **kwargs)
    for mosc, store in controller.indexes.moscs.items():
        for _, model in store:
            if not isinstance(model, str) and model.spec.machine_config_pool.name == name:
                controller.enqueue(mosc)


@kopf.on.event(*CONFIGS)
async def on_config(memo: kopf.Memo, **kwargs: Any) -> None:
    _builds(memo, **kwargs).enqueue_all()


@kopf.on.event("secrets")
async def on_secret(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _builds(memo, **kwargs)
    if OURS.items() <= (body.get("metadata", {}).get("labels") or {}).items():
        # A build's own copy concerns only its MachineOSConfig. Waking every one for it
        # cost a pass of every MOSC per copy made or deleted: 4 events a build, each 50
        # passes in the scale benchmark's burst of 50 builds.
        _enqueue_for(controller, body)
        return
    controller.enqueue_all()  # an admin's Secret: any MOSC may name it
