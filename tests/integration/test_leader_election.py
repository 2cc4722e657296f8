"""Leader election on the real API server: one holder of the Lease at a time, the Lease
handed back on a normal stop, and a leader that loses it exits instead of writing on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes
import pytest

from hack import controlplane, operatoridentity
from hack.operatorproc import OperatorProcess
from tests.support.polling import delete_quietly, eventually

LEASE = "mosb-controller-leader"
# Long enough that a takeover within it can only come from the Lease being handed back.
SLOW = ["--leader-election-lease-duration-seconds=60", "--leader-election-renew-deadline-seconds=3",
        "--leader-election-retry-period-seconds=1"]  # fmt: skip


@dataclass
class Election:
    """Operator replicas on the test control plane, and the Lease they compete for."""

    plane: controlplane.ControlPlane
    namespace: str
    coordination: kubernetes.client.CoordinationV1Api
    workdir: Path
    replicas: list[OperatorProcess] = field(default_factory=list)

    def start(self, name: str) -> OperatorProcess:
        proc = OperatorProcess(
            operatoridentity.operator_kubeconfig(self.plane),  # its SA, its RBAC
            self.namespace,
            self.workdir / f"{name}.log",
            SLOW,
        )
        proc.start()
        self.replicas.append(proc)
        return proc

    def holder(self) -> str | None:
        spec = self.coordination.read_namespaced_lease(LEASE, self.namespace).spec
        return spec.holder_identity if spec is not None else None


@pytest.fixture
def election(
    control_plane: controlplane.ControlPlane,
    namespace: str,
    api_client: kubernetes.client.ApiClient,
    tmp_path: Path,
) -> Iterator[Election]:
    made = Election(
        control_plane, namespace, kubernetes.client.CoordinationV1Api(api_client), tmp_path
    )
    yield made
    for proc in made.replicas:
        proc.stop()
    # No Lease left held by an identity that is gone: later operators start at once.
    delete_quietly(made.coordination.delete_namespaced_lease, LEASE, namespace)


def identity(proc: OperatorProcess) -> str | None:
    found = re.search(r"leading as (\S+)", proc.log_text())
    return found.group(1) if found else None


def test_one_leader_and_the_lease_is_handed_back_on_stop(election: Election) -> None:
    first = election.start("first")
    leader = eventually(lambda: identity(first), what="the first replica leads")
    second = election.start("second")
    assert election.holder() == leader
    assert identity(second) is None and "waiting for the Lease" in second.log_text()
    first.stop()  # SIGTERM: cleanup hands the Lease back
    assert election.holder() != leader
    # Handed back, the Lease goes to the other replica long before it would expire (60 s).
    eventually(lambda: identity(second), timeout=45, what="the second replica leads")
    assert election.holder() == identity(second)


def test_leader_that_loses_the_lease_exits(election: Election) -> None:
    proc = election.start("leader")
    eventually(lambda: identity(proc), timeout=90, what="leading")
    coordination, namespace = election.coordination, election.namespace

    def take_over() -> bool:
        """Another holder takes the Lease; False when the leader renewed it meanwhile."""
        lease = coordination.read_namespaced_lease(LEASE, namespace)
        assert lease.spec is not None
        lease.spec.holder_identity = "someone-else"
        lease.spec.renew_time = dt.datetime.now(dt.UTC)
        try:
            coordination.replace_namespaced_lease(LEASE, namespace, lease)
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
            return False
        return True

    eventually(take_over, timeout=30, what="the Lease taken over")
    assert proc.popen is not None
    assert proc.popen.wait(timeout=60) == 3, proc.log_tail()
    assert "lost the Lease" in proc.log_text()
