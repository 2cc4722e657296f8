"""Leader election: of several replicas only the one holding a coordination.k8s.io Lease
records architectures and builds; the others watch and keep their indexes warm.

The election itself is kubernetes.leaderelection (client-go's algorithm: expiry is
judged by the follower's own clock from when it last saw the lease change, so clocks
need not agree). A leader that cannot renew within the renew deadline exits at once,
as client-go controllers do: by then another replica may lead, and a process that
stops writing mid-pass is safe (every write is idempotent) while one that goes on is
not. Its supervisor (the Deployment) starts it again as a follower.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid

from mosb_controller.cluster.kube import Kube
from mosb_controller.cluster.lease import LeaseLock, start_election
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
EXIT_LOST_LEASE = 3


def default_identity() -> str:
    # The pod name (hostname) for people; a random suffix keeps two processes apart.
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class Leadership:
    """`leading` is set while this replica may write (always, without leader election)."""

    def __init__(self, kube: Kube, settings: Settings, identity: str | None = None) -> None:
        self.settings = settings
        self.identity = identity or default_identity()
        self.leading = asyncio.Event()
        self._lock = LeaseLock(
            kube.client, settings.namespace, settings.leader_election_lease_name, self.identity
        )
        self._stopping = threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        s = self.settings
        if not s.leader_election:
            self.leading.set()
            return
        log.info(
            "waiting for the Lease %s/%s as %s", s.namespace, s.leader_election_lease_name,
            self.identity,
        )  # fmt: skip
        start_election(
            self._lock,
            lease_duration=s.leader_election_lease_duration_seconds,
            renew_deadline=s.leader_election_renew_deadline_seconds,
            retry_period=s.leader_election_retry_period_seconds,
            on_started=lambda: loop.call_soon_threadsafe(self._started),
            on_stopped=self._lost,
        )

    def _started(self) -> None:
        log.info("leading as %s", self.identity)
        self.leading.set()

    def _lost(self) -> None:
        if self._stopping.is_set():
            return
        log.error("lost the Lease (not renewed in time): exiting so that only the leader writes")
        logging.shutdown()
        os._exit(EXIT_LOST_LEASE)

    async def stop(self) -> None:
        self._stopping.set()
        if self.settings.leader_election:
            await asyncio.to_thread(self._lock.release)
