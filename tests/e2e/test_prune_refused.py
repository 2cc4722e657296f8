"""A registry that refuses deletes (distribution with deletes disabled: 405): the builds
still retire, the registry is asked once, and each retired build gets one Warning event
on its MachineOSConfig, counted in mosb_prune_refused_total."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hack import controlplane
from hack.localcluster import LocalCluster
from hack.registry import missing_tools
from tests.support.e2e import mosbs, wait
from tests.support.polling import require
from tests.support.pruning import edit, events

MOSC = "refused"


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    made = LocalCluster(cluster)
    made.registry.deletes = False
    made.start(["--build-backoff-limit=0", "--retention-count=1"])
    yield made
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")


def test_refused_deletes_warn_once_per_build_and_builds_still_retire(
    local: LocalCluster,
) -> None:
    local.add_pool(MOSC, ("amd64", "arm64"))
    built = [edit(local, MOSC, amd=1, arm=k) for k in range(1, 5)]
    retired = built[:2]  # built[3] is current, built[2] the one retained
    wait(lambda: sorted(m["metadata"]["name"] for m in mosbs(local, MOSC)) == sorted(built[2:]))
    warnings = wait(lambda: len(events(local, MOSC, "PruneRefused")) >= 2 and events(
        local, MOSC, "PruneRefused"))  # fmt: skip
    named = sorted(next(b for b in retired if b in e["message"]) for e in warnings)
    assert named == sorted(retired)
    assert all(e["type"] == "Warning" and "MethodNotAllowed" in e["message"] for e in warnings)
    deletes = [e for e in local.registry.access_log() if e.method == "DELETE"]
    assert [e.status for e in deletes] == [405]  # asked once, never again
    assert local.operator is not None
    scraped = local.operator.scrape()
    assert 'mosb_prune_refused_total{mosc="refused",reason="MethodNotAllowed"} 2.0' in scraped
