"""The build loop: a work queue of MachineOSConfig names, each reconciled by observe →
plan → apply. Level-triggered: any event only enqueues; a pass recomputes everything
from the indexes, so a repeated or late pass converges to the same objects.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from kubernetes.client import ApiException

from api import GROUP, MachineConfig, MachineConfigPool, MachineOSConfig
from mosb_controller.arch import ClusterRecord
from mosb_controller.config import Settings
from mosb_controller.imagecheck import ImageChecker
from mosb_controller.kube import Writer
from mosb_controller.plan.inputs import Refusal
from mosb_controller.plan.mosb import EventSpec, Observed, Plan, plan_mosc
from mosb_controller.plan.observed import ImageCheck, JobView, MosbView, PodView

log = logging.getLogger(__name__)
RESYNC_SECONDS = 30.0
RETRY_SECONDS = 2.0
WORKERS = 4
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
    jobs: Mapping[str, Iterable[JobView]] = field(default_factory=dict)
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
        # Whole seconds: the API's timestamps have no more, and records compare with them.
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(microsecond=0),
    ) -> None:
        self.writer, self.settings, self.checker = writer, settings, checker
        self.record, self.clock = record, clock
        self.indexes = Indexes()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._refusals: dict[str, tuple[Refusal, dt.datetime, bool]] = {}  # since, reported
        # Jobs the watch saw deleted, as (name, owner uid): a Job deleted before any pass
        # observed it is still an interruption, not a Job to create again.
        self.deleted_jobs: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=3600)
        self.passes = 0
        self.leading = asyncio.Event()  # passes run only while set (leader election)
        self.leading.set()

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
            self._queue.put_nowait(mosc)

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
            mosc = await self._queue.get()
            await self.leading.wait()
            self._queued.discard(mosc)
            self._busy.add(mosc)
            try:
                await self.reconcile(mosc)
            except ApiException as exc:
                level = logging.INFO if exc.status == 409 else logging.WARNING
                log.log(
                    level, "MachineOSConfig %s: API %s %s; retrying", mosc, exc.status, exc.reason
                )
                self.enqueue_later(mosc, RETRY_SECONDS)
            except Exception:
                log.exception("MachineOSConfig %s: reconcile failed; retrying", mosc)
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
        jobs = {
            j.name: j
            for store in self.indexes.jobs.values()
            for j in store
            if j.mosb in mosbs or j.mosc == mosc_name
        }
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
            return None
        plan = plan_mosc(obs)
        # An answer may lead to the next candidate: ask until the plan needs nothing new
        # (an architecture has at most a few candidates, so this ends quickly).
        for _ in range(MAX_CHECK_ROUNDS):
            if not plan.image_checks:
                break
            secret = obs.mosc.spec.rendered_image_push_secret.name
            checks = (self.checker.check(ref, secret) for ref in plan.image_checks)
            answers = await asyncio.gather(*checks)
            images.update(zip(plan.image_checks, answers, strict=True))
            obs = self.observe(mosc_name, images)
            if obs is None:
                return None
            plan = plan_mosc(obs)
        await self.apply(obs, plan)
        if plan.mosb_name and not _finished(obs, plan):
            self.enqueue_later(mosc_name, RESYNC_SECONDS)  # timeouts; a safety net
        return plan

    async def apply(self, obs: Observed, plan: Plan) -> None:
        w, ns, mosc = self.writer, self.settings.namespace, obs.mosc.name
        await self._report_refusal(mosc, obs.mosc_uid, plan.refusal)
        run = asyncio.to_thread
        for name in plan.delete_mosbs:
            log.info("MachineOSConfig %s: removing MachineOSBuild %s", mosc, name)
            await run(w.delete_cluster_object, "machineosbuilds", name)
        if plan.create_mosb is not None:
            log.info("MachineOSConfig %s: creating MachineOSBuild %s", mosc, plan.mosb_name)
            await run(w.create_cluster_object, "machineosbuilds", plan.create_mosb)
        for body in plan.create_configmaps + plan.create_jobs:
            log.info(
                "MachineOSConfig %s: creating %s %s", mosc, body["kind"], body["metadata"]["name"]
            )
            await run(w.create_namespaced, body)
        for name, status in plan.mosb_status.items():
            version = obs.mosbs[name].resource_version or None
            await run(w.patch_status, "machineosbuilds", name, status, version)
        for name, changes in plan.mosb_annotations.items():
            await run(w.patch_annotations, "machineosbuilds", name, changes)
        if plan.mosc_annotations:
            await run(w.patch_annotations, "machineosconfigs", mosc, plan.mosc_annotations)
        if plan.mosc_status is not None:
            await run(w.patch_status, "machineosconfigs", mosc, plan.mosc_status, None)
        if plan.pool_condition is not None and obs.pool is not None:
            await run(self._set_pool_condition, obs.pool, plan.pool_condition)
        for name in plan.delete_jobs:
            await run(w.delete_job, ns, name)
        for name in plan.delete_configmaps:
            await run(w.delete_configmap, ns, name)
        uids = {m.name: m.uid for m in obs.mosbs.values()} | {mosc: obs.mosc_uid}
        for event in plan.events:
            involved = _involved(event, uids.get(event.name))
            await run(w.post_event, involved, event.type, event.reason, event.message)

    def _set_pool_condition(self, pool: MachineConfigPool, condition: dict[str, Any]) -> None:
        kept = [c.to_k8s() for c in pool.status.conditions if c.type != condition["type"]]
        self.writer.patch_status(
            "machineconfigpools",
            pool.name,
            {"conditions": [*kept, condition]},
            pool.metadata.resource_version,
        )

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
        await asyncio.to_thread(
            self.writer.post_event, involved, event.type, event.reason, event.message
        )


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
