"""The build loop: a work queue of MachineOSConfig names, each reconciled by observe →
plan → apply. Level-triggered: any event only enqueues; a pass recomputes everything
from the indexes, so a repeated or late pass converges to the same objects.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cachetools import TTLCache
from kubernetes.client import ApiException

from api import GROUP, MachineConfig, MachineConfigPool, MachineOSConfig
from mosb_controller.arch import ClusterRecord
from mosb_controller.buildmetrics import build_state
from mosb_controller.config import Settings
from mosb_controller.imagecheck import ImageChecker
from mosb_controller.kube import Writer
from mosb_controller.logs import build_fields
from mosb_controller.metrics import Metrics
from mosb_controller.plan import jobs as jobspec
from mosb_controller.plan.inputs import Refusal
from mosb_controller.plan.mosb import EventSpec, Observed, Plan, plan_mosc
from mosb_controller.plan.observed import ImageCheck, JobView, MosbView, PodView

log = logging.getLogger(__name__)
T = TypeVar("T")
RESYNC_SECONDS = 30.0
RETRY_SECONDS = 2.0
STALE_RETRY_SECONDS = 1.0
WORKERS = 16  # passes at once: they mostly wait on the API and the registry
API_THREADS = 16
MAX_CHECK_ROUNDS = 8
REFUSAL_GRACE = dt.timedelta(seconds=5)


@dataclass
class Indexes:
    """Live views of kopf's indexes (kopf keeps them current). Each maps a key to a
    store of values; `only()` takes the single value a key has."""

    # name → (uid, the parsed MOSC, or why it could not be parsed)
    moscs: Mapping[str, Iterable[tuple[str, MachineOSConfig | str]]] = field(default_factory=dict)
    mosbs: Mapping[str, Iterable[MosbView]] = field(default_factory=dict)  # by MOSC
    pools: Mapping[str, Iterable[tuple[str, MachineConfigPool]]] = field(default_factory=dict)
    configs: Mapping[str, Iterable[MachineConfig]] = field(default_factory=dict)
    jobs: Mapping[str, Iterable[JobView]] = field(default_factory=dict)  # by MOSC
    pods: Mapping[str, Iterable[PodView]] = field(default_factory=dict)  # by Job
    secrets: Mapping[str, Iterable[str]] = field(default_factory=dict)
    configmaps: Mapping[str, Iterable[str]] = field(default_factory=dict)


def only(store: Iterable[Any] | None) -> Any:
    return next(iter(store), None) if store is not None else None


class BuildController:
    def __init__(
        self,
        writer: Writer,
        settings: Settings,
        checker: ImageChecker,
        record: Callable[[], ClusterRecord | None],
        metrics: Metrics | None = None,
        # Whole seconds: the API's timestamps have no more, and records compare with them.
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(microsecond=0),
    ) -> None:
        self.writer, self.settings, self.checker = writer, settings, checker
        self.record, self.clock = record, clock
        self.metrics = metrics or Metrics()
        self.indexes = Indexes()
        # (priority, order, MOSC): a MOSC without Jobs goes first, so under a burst of
        # edits builds start before the progress of builds already running is reported.
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._queued: set[str] = set()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._refusals: dict[str, tuple[Refusal, dt.datetime, bool]] = {}  # since, reported
        # Jobs the watch saw deleted, as (name, owner uid): a Job deleted before any pass
        # observed it is still an interruption, not a Job to create again.
        self.deleted_jobs: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=3600)
        # (plural, name, resourceVersion) our own writes replaced: an index still showing
        # one is behind, and a conditional write from it would only earn a 409.
        self.outdated: TTLCache[tuple[str, str, str], bool] = TTLCache(maxsize=10_000, ttl=60)
        self.passes = 0
        self.leading = asyncio.Event()  # passes run only while set (leader election)
        self.leading.set()
        self._api_pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="api")
        self._report_pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="report")

    async def _api(self, call: Callable[..., T], *args: Any) -> T:
        """Creates and deletes, on threads of their own: under load, Jobs start first."""
        return await asyncio.get_running_loop().run_in_executor(self._api_pool, call, *args)

    async def _report(self, call: Callable[..., T], *args: Any) -> T:
        """Status, records and events: their own threads, so they never delay a create."""
        return await asyncio.get_running_loop().run_in_executor(self._report_pool, call, *args)

    # -- the queue --------------------------------------------------------------------
    def enqueue(self, mosc: str) -> None:
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._work(), name=f"build-{i}") for i in range(WORKERS)
            ]
        if mosc in self._busy:
            self._again.add(mosc)  # run once more after the current pass
        elif mosc not in self._queued:
            self._queued.add(mosc)
            has_jobs = any(True for _ in self.indexes.jobs.get(mosc, ()))
            self._queue.put_nowait((int(has_jobs), next(self._order), mosc))

    def enqueue_all(self) -> None:
        for name in list(self.indexes.moscs):
            self.enqueue(name)

    def enqueue_later(self, mosc: str, delay: float) -> None:
        old = self._timers.pop(mosc, None)
        if old is not None:
            old.cancel()
        self._timers[mosc] = asyncio.get_running_loop().call_later(delay, self.enqueue, mosc)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            _, _, mosc = await self._queue.get()
            await self.leading.wait()
            self._queued.discard(mosc)
            self._busy.add(mosc)
            try:
                await self.reconcile(mosc)
            except ApiException as exc:
                level = logging.INFO if exc.status == 409 else logging.WARNING
                log.log(
                    level,
                    "MachineOSConfig %s: API %s %s; retrying",
                    mosc,
                    exc.status,
                    exc.reason,
                    extra=build_fields(mosc),
                )
                if exc.status != 409:  # a conflict is a stale read, retried as designed
                    self.metrics.reconcile_errors.labels("builds", "api").inc()
                self.enqueue_later(mosc, RETRY_SECONDS)
            except Exception:
                log.exception(
                    "MachineOSConfig %s: reconcile failed; retrying", mosc, extra=build_fields(mosc)
                )
                self.metrics.reconcile_errors.labels("builds", "unexpected").inc()
                self.enqueue_later(mosc, RETRY_SECONDS * 5)
            finally:
                self._busy.discard(mosc)
                if mosc in self._again:
                    self._again.discard(mosc)
                    self.enqueue(mosc)

    # -- one pass ---------------------------------------------------------------------
    def observe(self, mosc_name: str, images: Mapping[str, ImageCheck]) -> Observed | None:
        entry = only(self.indexes.moscs.get(mosc_name))
        record = self.record()
        if entry is None or record is None or isinstance(entry[1], str):
            return None
        uid, mosc = entry
        pool_entry = only(self.indexes.pools.get(mosc.spec.machine_config_pool.name))
        pool = pool_entry[1] if pool_entry else None
        config = None
        if pool is not None:
            name = pool.spec.configuration.name or pool.status.configuration.name
            config = only(self.indexes.configs.get(name)) if name else None
        mosbs = {m.name: m for m in self.indexes.mosbs.get(mosc_name, ())}
        # Also the Jobs of a MOSB already deleted: a recreated MOSB of the same name must
        # see (and remove) them before it starts.
        jobs = {j.name: j for j in self.indexes.jobs.get(mosc_name, ())}
        return Observed(
            mosc=mosc,
            mosc_uid=uid,
            pool=pool,
            rendered=config,
            pool_arches=record.pools.get(mosc.spec.machine_config_pool.name),
            buildable=dict(record.cluster.buildable),
            secrets={name: only(types) for name, types in self.indexes.secrets.items()},
            mosbs=mosbs,
            jobs=jobs,
            pods={name: tuple(self.indexes.pods.get(name, ())) for name in jobs},
            configmaps={name: only(owners) for name, owners in self.indexes.configmaps.items()},
            images=images,
            now=self.clock(),
            settings=self.settings,
            deleted_jobs=frozenset(self.deleted_jobs),
        )

    async def reconcile(self, mosc_name: str) -> Plan | None:
        self.passes += 1
        entry = only(self.indexes.moscs.get(mosc_name))
        if entry is not None and isinstance(entry[1], str):  # the API accepted what we can't read
            refusal = Refusal("InvalidMachineOSConfig", entry[1])
            await self._report_refusal(mosc_name, entry[0], refusal)
            return None
        images: dict[str, ImageCheck] = {}
        obs = self.observe(mosc_name, images)
        if obs is None:
            self.metrics.builds.forget(mosc_name)  # deleted, or unreadable: no state to show
            return None
        if self._behind(obs):  # our last write's watch event is on its way, and enqueues
            self.enqueue_later(mosc_name, STALE_RETRY_SECONDS)
            return None
        plan = plan_mosc(obs)
        # An answer may lead to the next candidate: ask until the plan needs nothing new
        # (an architecture has at most a few candidates, so this ends quickly).
        for _ in range(MAX_CHECK_ROUNDS):
            if not plan.image_checks:
                break
            secret = obs.mosc.spec.rendered_image_push_secret.name
            answers = await self.checker.check_all(plan.image_checks, secret)
            images.update(zip(plan.image_checks, answers, strict=True))
            obs = self.observe(mosc_name, images)
            if obs is None:
                return None
            plan = plan_mosc(obs)
        await self.apply(obs, plan)
        self.metrics.builds.update(mosc_name, build_state(obs, plan))
        if plan.mosb_name and not _finished(obs, plan):
            self.enqueue_later(mosc_name, RESYNC_SECONDS)  # timeouts; a safety net
        return plan

    async def apply(self, obs: Observed, plan: Plan) -> None:
        w, ns, mosc = self.writer, self.settings.namespace, obs.mosc.name
        await self._report_refusal(mosc, obs.mosc_uid, plan.refusal)
        run, report = self._api, self._report
        for name in plan.delete_mosbs:
            log.info("removing MachineOSBuild %s", name, extra=build_fields(mosc, name))
            await run(w.delete_cluster_object, "machineosbuilds", name)
        if plan.create_mosb is not None:
            fields = build_fields(mosc, plan.mosb_name)
            log.info("creating MachineOSBuild %s", plan.mosb_name, extra=fields)
            await run(w.create_cluster_object, "machineosbuilds", plan.create_mosb)
        for body in plan.create_configmaps + plan.create_jobs:
            meta = body["metadata"]
            arch = (meta.get("annotations") or {}).get(jobspec.ARCH_ANNOTATION)
            fields = build_fields(mosc, plan.mosb_name, arch)
            log.info("creating %s %s", body["kind"], meta["name"], extra=fields)
        # The inputs first (the pods mount them), then every Job at once.
        for body in plan.create_configmaps:
            await run(w.create_namespaced, body)
        await asyncio.gather(*(run(w.create_namespaced, body) for body in plan.create_jobs))
        versions = {name: m.resource_version for name, m in obs.mosbs.items()}
        for name, status in plan.mosb_status.items():
            new = await report(
                w.patch_status, "machineosbuilds", name, status, versions[name] or None
            )
            self._replaced("machineosbuilds", name, versions, new)
        for name, changes in plan.mosb_annotations.items():
            new = await report(w.patch_annotations, "machineosbuilds", name, changes)
            self._replaced("machineosbuilds", name, versions, new)
        if plan.mosc_annotations:
            await report(w.patch_annotations, "machineosconfigs", mosc, plan.mosc_annotations)
        if plan.mosc_status is not None:
            await report(w.patch_status, "machineosconfigs", mosc, plan.mosc_status, None)
        if plan.pool_condition is not None and obs.pool is not None:
            await report(self._set_pool_condition, obs.pool, plan.pool_condition)
        await asyncio.gather(
            *(run(w.delete_job, ns, name) for name in plan.delete_jobs),
            *(run(w.delete_configmap, ns, name) for name in plan.delete_configmaps),
        )
        uids = {m.name: m.uid for m in obs.mosbs.values()} | {mosc: obs.mosc_uid}
        await asyncio.gather(
            *(
                report(w.post_event, _involved(e, uids.get(e.name)), e.type, e.reason, e.message)
                for e in plan.events
            )
        )
        for event in plan.events:
            self._log_and_count(obs, event, uids.get(event.name))

    def _replaced(self, plural: str, name: str, versions: dict[str, str], new: str | None) -> None:
        old = versions.get(name)
        if old and new and new != old:
            self.outdated[(plural, name, old)] = True
            versions[name] = new

    def _behind(self, obs: Observed) -> bool:
        """Does the index still show an object as it was before one of our writes?"""
        pool = obs.pool
        return any(
            ("machineosbuilds", m.name, m.resource_version) in self.outdated
            for m in obs.mosbs.values()
        ) or (
            pool is not None
            and ("machineconfigpools", pool.name, pool.metadata.resource_version or "")
            in self.outdated
        )

    def _log_and_count(self, obs: Observed, event: EventSpec, uid: str | None) -> None:
        """Every build transition as a log line with its build's fields, and in the
        metrics (once per MachineOSBuild uid, architecture and transition)."""
        mosc = obs.mosc.name
        mosb = event.name if event.kind == "MachineOSBuild" else None
        level = logging.WARNING if event.type == "Warning" else logging.INFO
        fields = build_fields(mosc, mosb, event.arch)
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

    def _set_pool_condition(self, pool: MachineConfigPool, condition: dict[str, Any]) -> None:
        kept = [c.to_k8s() for c in pool.status.conditions if c.type != condition["type"]]
        versions = {pool.name: pool.metadata.resource_version or ""}
        new = self.writer.patch_status(
            "machineconfigpools",
            pool.name,
            {"conditions": [*kept, condition]},
            versions[pool.name] or None,
        )
        self._replaced("machineconfigpools", pool.name, versions, new)

    async def _report_refusal(self, name: str, uid: str, refusal: Refusal | None) -> None:
        """Tell the admin why nothing is built, once per refusal, and only when it lasts:
        a MOSC created together with its pool is refused for a moment, never worth an event."""
        if refusal is None or refusal.quiet:
            self._refusals.pop(name, None)
            return
        seen = self._refusals.get(name)
        now = self.clock()
        if seen is None or seen[0] != refusal:
            self._refusals[name] = (refusal, now, False)
            self.enqueue_later(name, REFUSAL_GRACE.total_seconds())
            return
        _, since, reported = seen
        if reported or now - since < REFUSAL_GRACE:
            return
        self._refusals[name] = (refusal, since, True)
        log.warning("MachineOSConfig %s: no build: %s", name, refusal.message)
        event = EventSpec("MachineOSConfig", name, "Warning", refusal.reason, refusal.message)
        involved = _involved(event, uid)
        await self._api(self.writer.post_event, involved, event.type, event.reason, event.message)


def _finished(obs: Observed, plan: Plan) -> bool:
    mosb = obs.mosbs.get(plan.mosb_name or "")
    return mosb is not None and mosb.terminal is not None and not plan.mosb_annotations


def _involved(event: EventSpec, uid: str | None) -> dict[str, Any]:
    # `kubectl describe` finds events by the object's uid too: always send it.
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": event.kind,
        "metadata": {"name": event.name, "uid": uid},
    }
