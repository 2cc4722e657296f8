"""Pruning rounds: after a pass, delete the registry tags of retired MachineOSBuilds that
nothing uses (`planning.retention.prune` decides; `cluster.imageprune` reads and deletes).

A round runs for a MachineOSConfig the first time the process sees it (so whatever a
crash left behind is found), when a pass deleted MOSBs, and after a MOSB's DELETED watch
event (an admin's delete). It compares the repository with the live records, so it needs
no memory of what was deleted and converges after a crash at any point.

A registry that refuses a delete (405, unauthorized) is not asked again by this process:
one Warning event per retired MOSB, counted in mosb_prune_refused_total, no retry storm.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from cachetools import TTLCache

from api import VERSION, EventReason, EventType, ImageReference, PruneRefusal, build_group
from mosb_controller.cluster import imageprune
from mosb_controller.cluster.imagecheck import Access, ImageChecker
from mosb_controller.cluster.kube import Writer
from mosb_controller.planning import retention
from mosb_controller.planning.events import MOSC_KIND, EventSpec
from mosb_controller.planning.observed import ImageCheck, MosbView, Observed, RegistryAnswer
from mosb_controller.planning.plan import Plan
from mosb_controller.runtime.metrics import Metrics
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
CONCURRENT_ROUNDS = 4


def in_use(obs: Observed) -> dict[str, str]:
    """Images in use that the observed objects name (nodes' are read in the round): the
    MOSC's current image, and in alongside-mco mode our MachineConfig's osImageURL."""
    uses: dict[str, str] = {}
    mosc, published = obs.mosc, obs.published
    if mosc.status.current_image_pull_spec:
        uses[mosc.status.current_image_pull_spec] = f"the current image of {mosc.name}"
    if published is not None and published.spec.os_image_url:
        uses[published.spec.os_image_url] = f"the osImageURL of MachineConfig {published.name}"
    return uses


class Pruner:
    def __init__(
        self, writer: Writer, settings: Settings, checker: ImageChecker, metrics: Metrics
    ) -> None:
        self.writer, self.settings, self.checker, self.metrics = writer, settings, checker, metrics
        self._done: set[str] = set()  # MOSCs pruned since their last MOSB deletion
        self._refusing: dict[str, tuple[PruneRefusal, str]] = {}  # repository → what it said
        # (MOSC, retired MOSB) told of a refusal; kept-image messages already posted
        self._warned: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=86_400)
        self._said: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=86_400)
        # Rounds of different MOSCs at once (a MOSC's passes never overlap: the queue), so
        # the first passes after a start, each with a round, don't wait on one another.
        self._pool = ThreadPoolExecutor(CONCURRENT_ROUNDS, thread_name_prefix="prune")

    def due(self, mosc: str) -> None:
        """A MOSB of `mosc` was deleted: look at its tags at the next pass."""
        self._done.discard(mosc)

    async def after(self, obs: Observed, plan: Plan) -> None:
        mosc = obs.mosc.name
        if not self.settings.prune_images or plan.mosb_name is None:
            return
        if mosc in self._done and not plan.delete_mosbs:
            return
        self._done.add(mosc)
        if not obs.mosbs and not plan.delete_mosbs:
            # No build of it exists: no retired build's tag to look for now (the next
            # retirement's round finds any left behind). Spares each new MOSC a registry
            # listing in its first pass: 50 at once in the scale benchmark's burst.
            return
        live = retention.survivors(obs.mosbs.values(), plan.delete_mosbs, plan.create_mosb)
        loop = asyncio.get_running_loop()
        try:
            events = await loop.run_in_executor(
                self._pool, self._round, obs, live, in_use(obs), plan.mosb_name
            )
        except Exception:
            self._done.discard(mosc)  # look again at the next pass
            raise
        for event in events:
            level = logging.WARNING if event.type is EventType.WARNING else logging.INFO
            log.log(level, "%s: %s", event.reason, event.message)
            # Our MOSC's group: in alongside-mco mode, not the MCO's.
            involved = event.involved(obs.mosc_uid, f"{build_group(self.settings.mode)}/{VERSION}")
            await loop.run_in_executor(
                None, self.writer.post_event, involved, event.type, event.reason, event.message
            )

    def _round(
        self, obs: Observed, live: list[MosbView], found: dict[str, str], desired: str
    ) -> list[EventSpec]:
        mosc = obs.mosc
        access = self.checker.access(mosc.spec.rendered_image_push_secret.name, obs.network)
        if isinstance(access, ImageCheck):
            return self._once(mosc.name, EventReason.IMAGES_KEPT, f"not pruning: {access.detail}")
        repository = ImageReference.parse(mosc.spec.rendered_image_push_spec).repository
        skopeo = self.checker.skopeo
        if not self._retired_tags(mosc.name, repository, access, live, desired):
            return []  # the common case: no node list, no manifest read, nothing to say
        uses = {**found, **imageprune.node_images(self.writer.client)}
        inventory = imageprune.read_inventory(skopeo, access, repository, uses)
        decision = retention.prune(mosc.name, inventory, live, uses, desired)
        if decision.blocked is not None:
            return self._once(
                mosc.name, EventReason.IMAGES_KEPT, f"not pruning: {decision.blocked}"
            )
        pruned: dict[str, list[str]] = defaultdict(list)
        refused: dict[str, list[str]] = defaultdict(list)
        for item in decision.deletes:
            if repository not in self._refusing:
                outcome = imageprune.delete(skopeo, access, repository, item.digest)
                if outcome.refusal in (PruneRefusal.METHOD_NOT_ALLOWED, PruneRefusal.UNAUTHORIZED):
                    self._refusing[repository] = (outcome.refusal, outcome.detail)
                elif not outcome.ok:
                    refused[item.mosb] += [f"{t} ({outcome.detail})" for t in item.tags]
                    continue
                else:
                    pruned[item.mosb] += list(item.tags)
                    self.metrics.pruned_images.labels(mosc.name).inc()
                    self.metrics.pruned_bytes.labels(mosc.name).inc(item.size or 0)
                    continue
            refused[item.mosb] += list(item.tags)
        return self._events(mosc.name, repository, pruned, refused, decision.kept)

    def _retired_tags(
        self, mosc: str, repository: str, access: Access, live: list[MosbView], desired: str
    ) -> bool:
        """Does the repository hold a tag of a build that is no longer live? Asked first, as
        one tag listing: the rest of a round (every node's images, each manifest) is heavy
        on a large cluster, and only a retired build's tags can need it. Unknown: True."""
        listed = self.checker.skopeo.tags(repository, access)
        if isinstance(listed, ImageCheck):
            return listed.state != RegistryAnswer.ABSENT  # no repository: nothing to prune
        if listed is None:
            return True
        names = {m.name for m in live} | {desired}
        return any(retention.build_of(mosc, tag) not in (None, *names) for tag in listed)

    def _events(
        self,
        mosc: str,
        repository: str,
        pruned: Mapping[str, list[str]],
        refused: Mapping[str, list[str]],
        kept: Mapping[str, list[str]],
    ) -> list[EventSpec]:
        events = [
            EventSpec(
                MOSC_KIND,
                mosc,
                EventType.NORMAL,
                EventReason.IMAGES_PRUNED,
                f"MachineOSBuild {mosb} is gone: deleted its tags {', '.join(tags)}",
            )
            for mosb, tags in sorted(pruned.items())
        ]
        for mosb, tags in sorted(refused.items()):
            if (mosc, mosb) in self._warned:
                continue  # one Warning per retired build
            self._warned[(mosc, mosb)] = True
            reason, said = self._refusing.get(repository, (PruneRefusal.FAILED, ""))
            self.metrics.prune_refused.labels(mosc, reason.value).inc()
            message = (
                f"MachineOSBuild {mosb} is gone but the registry refused deleting its images "
                f"({reason.value}: {said or 'see the tags'}); left in {repository}: "
                f"{', '.join(tags)}. "
                + (
                    "Tried again at its next pruning round."
                    if reason is PruneRefusal.FAILED
                    else "Not asked again until the operator restarts."
                )
            )
            events.append(
                EventSpec(MOSC_KIND, mosc, EventType.WARNING, EventReason.PRUNE_REFUSED, message)
            )
        for mosb, why in sorted(kept.items()):
            message = f"MachineOSBuild {mosb} is gone; kept, still in use: {'; '.join(why)}"
            events += self._once(mosc, EventReason.IMAGES_KEPT, message)
        return events

    def _once(self, mosc: str, reason: EventReason, message: str) -> list[EventSpec]:
        if message in self._said:
            return []
        self._said[message] = True
        return [EventSpec(MOSC_KIND, mosc, EventType.NORMAL, reason, message)]
