"""The coordination.k8s.io Lease behind leader election: kubernetes.leaderelection
(client-go's algorithm) over a lock hardened for API outages. The runtime's `Leadership`
decides what leading means; this module only talks to the API server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

import kubernetes
from kubernetes.client import ApiClient
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock import leaselock

log = logging.getLogger(__name__)


class LeaseLock(leaselock.LeaseLock):
    """kubernetes.leaderelection's Lease lock on our client, hardened in two ways: an
    unreachable API server counts as a failed try (the library lets such errors end its
    thread, leaving a leader that no longer renews), and after `stop()` it writes no more,
    so the lease can be handed back. Uses only get, create and update of Leases."""

    def __init__(self, client: ApiClient, namespace: str, name: str, identity: str) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = kubernetes.client.CoordinationV1Api(client)
        self.stopped = False

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        try:
            return cast(tuple[bool, Any], super().get(name, namespace))  # type: ignore[no-untyped-call]
        except Exception as exc:  # urllib3 errors while the API server is away
            log.warning("lease %s: cannot read: %s", name, exc)
            return False, exc

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        return not self.stopped and self._try(super().create, name, namespace, election_record)

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        return not self.stopped and self._try(super().update, name, namespace, updated_record)

    @staticmethod
    def _try(write: Any, *args: Any) -> bool:
        try:
            return bool(write(*args))
        except Exception as exc:
            log.warning("lease %s: cannot write: %s", args[0], exc)
            return False

    def release(self) -> None:
        """Stop renewing and, if we hold the lease, hand it back: the next replica takes
        over at once instead of waiting for the lease to expire."""
        self.stopped = True
        try:
            lease = self.api_instance.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            self.api_instance.replace_namespaced_lease(self.name, self.namespace, lease)
        except Exception as exc:  # it expires by itself
            log.warning("lease %s: not released: %s", self.name, exc)


def start_election(
    lock: LeaseLock,
    *,
    lease_duration: int,
    renew_deadline: int,
    retry_period: int,
    on_started: Callable[[], object],
    on_stopped: Callable[[], object],
) -> None:
    """Run the election on a daemon thread: `on_started` when this replica leads,
    `on_stopped` when it could not renew in time."""
    logging.getLogger("leaderelection").setLevel(logging.WARNING)  # a line per retry
    config = electionconfig.Config(
        lock=lock,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
        onstarted_leading=on_started,
        onstopped_leading=on_stopped,
    )
    election = leaderelection.LeaderElection(config)
    threading.Thread(target=election.run, name="leader-election", daemon=True).start()
