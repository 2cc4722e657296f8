"""The build loop: each MachineOSConfig name from the work queue is reconciled by
observe → plan → apply. Level-triggered: any event only adds the name to the queue; a
pass recomputes everything from the indexes, so a repeated or late pass converges to the
same objects. The queue (`runtime.queue`) decides when; this module decides nothing but
the order of writes: the plan (`planning`) decides what.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from api import (
    ARCH_ANNOTATION,
    MACHINE_CONFIG_POOLS,
    MACHINE_OS_BUILDS,
    MACHINE_OS_CONFIGS,
    PAUSED_BY_US_ANNOTATION,
    EventReason,
    EventType,
    MachineConfigPool,
    MachineConfigPoolCondition,
    Mode,
    build_group,
    published_config_name,
)
from mosb_controller.arch import ClusterRecord
from mosb_controller.cluster.imagecheck import ImageChecker
from mosb_controller.cluster.kube import Writer, api_status
from mosb_controller.cluster.mcoimages import McoImages
from mosb_controller.cluster.secrets import SecretStore
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.buildsecrets import SECRET_REFUSALS
from mosb_controller.planning.events import MOSB_KIND, MOSC_KIND, EventSpec
from mosb_controller.planning.hold import PoolHold
from mosb_controller.planning.inputs import Refusal
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import Plan, plan_mosc
from mosb_controller.planning.settle import settle
from mosb_controller.runtime.alongside import ReleaseBase, publishing_moscs, unpublish
from mosb_controller.runtime.buildmetrics import build_state
from mosb_controller.runtime.deletedjobs import DeletedJobs
from mosb_controller.runtime.indexes import Indexes, only
from mosb_controller.runtime.logs import build_fields
from mosb_controller.runtime.metrics import Metrics
from mosb_controller.runtime.pruning import Pruner
from mosb_controller.runtime.queue import WorkQueue, open_gate
from mosb_controller.runtime.refusals import Refusals
from mosb_controller.runtime.written import OwnWrites
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
RESYNC_SECONDS = 30.0  # an unfinished build is looked at again: timeouts; a safety net
STALE_RETRY_SECONDS = 1.0  # the watch has not shown our last write yet
WORKERS = 16  # passes at once: they mostly wait on the API and the registry
API_THREADS = 16
# Refusals over what no watch shows (Secrets outside our namespace, the MCO's images).
UNWATCHED_REFUSALS = SECRET_REFUSALS | {EventReason.BUILDER_IMAGE_NOT_FOUND}


class BuildLoop:
    def __init__(
        self,
        writer: Writer,
        settings: Settings,
        checker: ImageChecker,
        record: Callable[[], ClusterRecord | None],
        metrics: Metrics | None = None,
        own_writes: OwnWrites | None = None,
        leading: asyncio.Event | None = None,
        # Whole seconds: the API's timestamps have no more, and records compare with them.
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(microsecond=0),
    ) -> None:
        self.writer, self.settings, self.checker = writer, settings, checker
        self.secret_store = SecretStore(writer, checker.secrets)
        self.mco_images = McoImages(writer)
        self.record, self.clock = record, clock
        self.metrics = metrics or Metrics()
        self.own_writes = own_writes or OwnWrites()
        self.indexes = Indexes()
        self.pruner = Pruner(writer, settings, checker, self.metrics)
        self.leading = leading or open_gate()  # passes run only while set (leader election)
        self.queue = WorkQueue(
            self.reconcile,
            workers=WORKERS,
            gate=self.leading,
            on_error=self._failed,
            # A MOSC without Jobs goes first: under a burst of edits, builds start before
            # the progress of builds already running is reported.
            priority=lambda mosc: int(any(True for _ in self.indexes.jobs.get(mosc, ()))),
        )
        self.refusals = Refusals()
        self.deleted_jobs = DeletedJobs()
        self._api_pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="api")
        self._report_pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="report")
        self._check_pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="settle")
        self.release = ReleaseBase(self.enqueue_all)  # alongside-mco: the base image
        self.api_version = f"{build_group(settings.mode)}/v1"  # of our MOSCs and MOSBs

    async def _api(self, call: Callable[..., T], *args: Any) -> T:
        """Creates and deletes, on threads of their own: under load, Jobs start first."""
        return await asyncio.get_running_loop().run_in_executor(self._api_pool, call, *args)

    async def _report(self, call: Callable[..., T], *args: Any) -> T:
        """Status, records and events: their own threads, so they never delay a create."""
        return await asyncio.get_running_loop().run_in_executor(self._report_pool, call, *args)

    def enqueue(self, mosc: str) -> None:
        self.queue.add(mosc)

    def enqueue_all(self) -> None:
        for name in list(self.indexes.moscs):
            self.queue.add(name)
        if self.settings.mode is Mode.ALONGSIDE_MCO:  # a MOSC deleted while we were away:
            for mosc in publishing_moscs(self.indexes.configs):  # its pass removes our MC
                self.queue.add(mosc)

    def base_changed(self, base: str | None) -> None:
        self.release.changed(base)

    def job_deleted(self, name: str, owner_uid: str) -> None:
        self.deleted_jobs.seen(name, owner_uid, self.clock())

    async def stop(self) -> None:
        await self.queue.stop()

    def _failed(self, mosc: str, exc: Exception) -> None:
        fields = build_fields(mosc)
        status = api_status(exc)
        if status is not None:
            level = logging.INFO if status == 409 else logging.WARNING
            reason = getattr(exc, "reason", "")
            log.log(
                level, "MachineOSConfig %s: API %s %s; retrying", mosc, status, reason, extra=fields
            )
            if status != 409:  # a conflict is a stale read, retried as designed
                self.metrics.reconcile_errors.labels("builds", "api").inc()
            return
        log.error(
            "MachineOSConfig %s: reconcile failed; retrying", mosc, exc_info=exc, extra=fields
        )
        self.metrics.reconcile_errors.labels("builds", "unexpected").inc()

    # -- one pass ---------------------------------------------------------------------
    def observe(self, mosc_name: str) -> Observed | None:
        entry = only(self.indexes.moscs.get(mosc_name))
        record = self.record()
        if entry is None or record is None or isinstance(entry[1], str):
            return None
        alongside = self.settings.mode is Mode.ALONGSIDE_MCO
        if alongside and not self.release.listed:
            return None  # the osimageurl watch's first list enqueues everything
        uid, mosc = entry
        pool_entry = only(self.indexes.pools.get(mosc.spec.machine_config_pool.name))
        pool = pool_entry[1] if pool_entry else None
        config_name = pool.rendered_config_name if pool is not None else None
        config = only(self.indexes.configs.get(config_name)) if config_name else None
        mosbs = {m.name: m for m in self.indexes.mosbs.get(mosc_name, ())}
        # Also the Jobs of a MOSB already deleted: a recreated MOSB of the same name must
        # see (and remove) them before it starts.
        jobs = {j.name: j for j in self.indexes.jobs.get(mosc_name, ())}
        copies = dict(self.indexes.copies.get(mosc_name, ()))
        spec = mosc.spec  # the Secrets a pass may ask about: the MOSC's, and its copies
        named = {spec.rendered_image_push_secret.name, *copies}
        if spec.base_image_pull_secret is not None:
            named.add(spec.base_image_pull_secret.name)
        return Observed(
            mosc=mosc,
            mosc_uid=uid,
            pool=pool,
            rendered=config,
            pool_arches=record.pools.get(mosc.spec.machine_config_pool.name),
            buildable=dict(record.cluster.buildable),
            secrets={n: only(self.indexes.secrets[n]) for n in named if n in self.indexes.secrets},
            secret_copies=copies,
            mosbs=mosbs,
            jobs=jobs,
            pods={name: tuple(self.indexes.pods.get(name, ())) for name in jobs},
            configmaps=dict(self.indexes.configmaps.get(mosc_name, ())),
            images={},
            now=self.clock(),
            settings=self.settings,
            deleted_jobs=self.deleted_jobs.of(m.uid for m in mosbs.values()),
            release_base=self.release.base,
            published=only(self.indexes.configs.get(published_config_name(mosc.name)))
            if alongside
            else None,
        )

    async def reconcile(self, mosc_name: str) -> float | None:
        """One pass; returns when to look again (None: at the next event)."""
        entry = only(self.indexes.moscs.get(mosc_name))
        if entry is not None and isinstance(entry[1], str):  # the API accepted what we can't read
            refusal = Refusal(EventReason.INVALID_MACHINE_OS_CONFIG, entry[1])
            return await self._report_refusal(mosc_name, entry[0], refusal)
        obs = self.observe(mosc_name)
        if obs is None:
            self.metrics.builds.forget(mosc_name)  # deleted, or unreadable: no state to show
            if entry is None and self.settings.mode is Mode.ALONGSIDE_MCO:
                await self._api(unpublish, self.writer, self.indexes, mosc_name)
            return None
        if self._behind(obs):  # our last write's watch event is on its way, and enqueues
            return STALE_RETRY_SECONDS
        obs = await self._api(self.secret_store.observe, obs)  # those outside our namespace
        obs = await self._api(self.mco_images.observe, obs)  # the builder image, on OpenShift
        watched = {name: only(store) for name, store in self.indexes.trust.items()}
        obs = await self._api(self.checker.network.observe, obs, watched)  # proxy and CAs
        plan = plan_mosc(obs)
        if plan.image_checks:  # ask the registry until the plan asks nothing new
            ask = self.checker.asker(obs)
            loop = asyncio.get_running_loop()
            settled = functools.partial(settle, obs, ask, first=plan)
            plan, answered = await loop.run_in_executor(self._check_pool, settled)
            obs = answered
        later = await self.apply(obs, plan)
        self.metrics.builds.update(mosc_name, build_state(obs, plan))
        # What no watch shows (UNWATCHED_REFUSALS): look again for a missing one.
        if (plan.mosb_name and not _finished(obs, plan)) or (
            plan.refusal is not None and plan.refusal.reason in UNWATCHED_REFUSALS
        ):
            later = min(later or RESYNC_SECONDS, RESYNC_SECONDS)
        return later

    async def apply(self, obs: Observed, plan: Plan) -> float | None:
        """The plan's writes, in an order that keeps every crash point recoverable: the
        MOSB before its Jobs, inputs before the Jobs that mount them, records after."""
        w, ns, mosc = self.writer, self.settings.namespace, obs.mosc.name
        later = await self._report_refusal(mosc, obs.mosc_uid, plan.refusal)
        run = self._api
        if plan.pool_hold is not None and obs.pool is not None:  # before the build starts
            await run(self._hold_pool, obs.pool, plan.pool_hold)
        for name in plan.delete_mosbs:
            log.info("removing MachineOSBuild %s", name, extra=build_fields(mosc, name))
            await run(w.delete_cluster_object, MACHINE_OS_BUILDS, name)
        if plan.create_mosb is not None:
            log.info(
                "creating MachineOSBuild %s",
                plan.mosb_name,
                extra=build_fields(mosc, plan.mosb_name),
            )
            await run(w.create_cluster_object, MACHINE_OS_BUILDS, plan.create_mosb.to_k8s())
        for body in plan.create_configmaps + plan.create_jobs:
            meta: Any = body["metadata"]
            arch = (meta.get("annotations") or {}).get(ARCH_ANNOTATION)
            fields = build_fields(mosc, plan.mosb_name, arch)
            log.info("creating %s %s", body["kind"], meta["name"], extra=fields)
        # The inputs and Secret copies first, at once (the pods mount them), then every Job.
        await asyncio.gather(
            *(run(w.create_namespaced, body) for body in plan.create_configmaps),
            *(run(self.secret_store.make_copy, c, self.settings) for c in plan.copy_secrets),
        )
        await asyncio.gather(*(run(w.create_namespaced, body) for body in plan.create_jobs))
        await self._write_records(obs, plan)
        if plan.publish_config is not None:  # only ever a succeeded build's digest
            name = plan.publish_config["metadata"]["name"]
            log.info("publishing through MachineConfig %s", name, extra=build_fields(mosc))
            await run(w.apply_machine_config, plan.publish_config)
        await asyncio.gather(
            *(run(w.delete_job, ns, name) for name in plan.delete_jobs),
            *(run(w.delete_configmap, ns, name) for name in plan.delete_configmaps),
            *(run(w.delete_secret_copy, ns, name) for name in plan.delete_secrets),
            *(run(w.delete_build_jobs, ns, uid) for uid in plan.delete_jobs_of),
            *(run(w.delete_build_secrets, ns, uid) for uid in plan.delete_secrets_of),
        )
        await self._post_events(obs, plan)
        await self.pruner.after(obs, plan)  # last: the deletes above are done
        return later

    async def _write_records(self, obs: Observed, plan: Plan) -> None:
        """Annotations and status of the MOSBs, the MOSC, and the pool's condition."""
        w, mosc, report = self.writer, obs.mosc.name, self._report
        versions = {name: m.resource_version for name, m in obs.mosbs.items()}
        # The per-architecture record before the status that sums it up: whoever reads a
        # MOSB that says Succeeded (a person, the plugin, a crash's next pass) finds each
        # architecture's result already there. The other way round, a read between the
        # two writes (or a kill) saw Succeeded beside architectures still Pending. Both
        # writes are conditional on the version the plan was made from, as the status was.
        for name, changes in plan.mosb_annotations.items():
            new = await report(
                w.patch_annotations, MACHINE_OS_BUILDS, name, changes, versions.get(name) or None
            )
            self._wrote(MACHINE_OS_BUILDS, name, versions, new)
        for name, status in plan.mosb_status.items():
            new = await report(
                w.patch_status, MACHINE_OS_BUILDS, name, status.to_k8s(), versions[name] or None
            )
            self._wrote(MACHINE_OS_BUILDS, name, versions, new)
        if plan.mosc_annotations:
            await report(w.patch_annotations, MACHINE_OS_CONFIGS, mosc, plan.mosc_annotations)
        if plan.mosc_status is not None:
            await report(w.patch_status, MACHINE_OS_CONFIGS, mosc, plan.mosc_status.to_k8s(), None)
        if plan.pool_condition is not None and obs.pool is not None:
            await report(self._set_pool_condition, obs.pool, plan.pool_condition)

    async def _post_events(self, obs: Observed, plan: Plan) -> None:
        uids = {m.name: m.uid for m in obs.mosbs.values()} | {obs.mosc.name: obs.mosc_uid}
        await asyncio.gather(
            *(
                self._report(
                    self.writer.post_event,
                    e.involved(uids.get(e.name), self.api_version),
                    e.type,
                    e.reason,
                    e.message,
                )
                for e in plan.events
            )
        )
        for event in plan.events:
            self._log_and_count(obs, event, uids.get(event.name))

    def _wrote(self, plural: str, name: str, versions: dict[str, str], new: str | None) -> None:
        old = versions.get(name)
        if old and new and new != old:
            self.own_writes.wrote((plural, name), old)
            versions[name] = new

    def _behind(self, obs: Observed) -> bool:
        """Does an index still show an object as it was before one of our writes?"""
        pool = obs.pool
        return any(
            self.own_writes.behind((MACHINE_OS_BUILDS, m.name), m.resource_version)
            for m in obs.mosbs.values()
        ) or (
            pool is not None
            and self.own_writes.behind(
                (MACHINE_CONFIG_POOLS, pool.name), pool.metadata.resource_version or ""
            )
        )

    def _log_and_count(self, obs: Observed, event: EventSpec, uid: str | None) -> None:
        """Every build transition as a log line with its build's fields, and in the
        metrics (once per MachineOSBuild uid, architecture and transition)."""
        mosb = event.name if event.kind == MOSB_KIND else None
        level = logging.WARNING if event.type is EventType.WARNING else logging.INFO
        fields = build_fields(obs.mosc.name, mosb, event.arch)
        log.log(level, "%s: %s", event.reason, event.message, extra=fields)
        if mosb is None or not uid:
            return
        job_name = (
            jobspec.build_job_name(mosb, event.arch) if event.arch else jobspec.push_job_name(mosb)
        )
        job = obs.jobs.get(job_name)
        seconds = None
        # A build is decided when its pod succeeds, often before the Job has an end time.
        if job is not None and job.start is not None:
            seconds = ((job.end or obs.now) - job.start).total_seconds()
        self.metrics.transition(uid, event.reason, event.arch, seconds)

    def _hold_pool(self, pool: MachineConfigPool, hold: PoolHold) -> None:
        log.info("pool %s: paused=%s, %s", pool.name, hold.paused, hold.note or "released")
        new = self.writer.hold_pool(pool.name, PAUSED_BY_US_ANNOTATION, hold.paused, hold.note)
        version = pool.metadata.resource_version or ""
        self._wrote(MACHINE_CONFIG_POOLS, pool.name, {pool.name: version}, new)

    def _set_pool_condition(
        self, pool: MachineConfigPool, condition: MachineConfigPoolCondition
    ) -> None:
        kept = [c.to_k8s() for c in pool.status.conditions if c.type != condition.type]
        version = pool.metadata.resource_version or ""
        new = self.writer.patch_status(
            MACHINE_CONFIG_POOLS,
            pool.name,
            {"conditions": [*kept, condition.to_k8s()]},
            version or None,
        )
        self._wrote(MACHINE_CONFIG_POOLS, pool.name, {pool.name: version}, new)

    async def _report_refusal(self, name: str, uid: str, refusal: Refusal | None) -> float | None:
        """Tell the admin why nothing is built (runtime/refusals.py decides when); returns
        when to look again to see whether the refusal lasted."""
        verdict = self.refusals.verdict(name, refusal, self.clock())
        if verdict.report and refusal is not None:
            log.warning("MachineOSConfig %s: no build: %s", name, refusal.message)
            event = EventSpec(MOSC_KIND, name, EventType.WARNING, refusal.reason, refusal.message)
            involved = event.involved(uid, self.api_version)
            await self._api(
                self.writer.post_event, involved, event.type, event.reason, event.message
            )
        return verdict.look_again


def _finished(obs: Observed, plan: Plan) -> bool:
    mosb = obs.mosbs.get(plan.mosb_name or "")
    return (
        mosb is not None
        and mosb.terminal is not None
        and not plan.mosb_annotations
        and plan.publish_config is None
    )
