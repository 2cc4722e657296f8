"""Retention and pruning on the local cluster (retention 2): successive edits leave exactly
the retained builds' tags, plus what is still in use: an older per-architecture image a
retained list reuses, and a list (with its children) a node's desiredImage names. Each
goes once nothing references it; the current image never. Then the operator is killed
while a MOSB is deleted behind its back: after the restart exactly the unused tags go."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from api.names import DESIRED_IMAGE_ANNOTATION
from hack import controlplane
from hack.localcluster import LocalCluster
from hack.registry import missing_tools
from tests.support.e2e import mosbs, wait
from tests.support.polling import require
from tests.support.pruning import apply, edit, events, published, published_after, tags

MOSC = "prune"


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    made = LocalCluster(cluster).start(["--build-backoff-limit=0", "--retention-count=2"])
    yield made
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")


def own(*builds: str, arch: tuple[str, ...] = ("arm64",)) -> set[str]:
    """The list tag of each build and its tags of the architectures it built."""
    return set(builds) | {f"{b}-{a}" for b in builds for a in arch}


def converged(local: LocalCluster, expected: set[str]) -> None:
    wait(lambda: tags(local, MOSC) == expected, 120, f"tags {sorted(expected)}")
    current = local.get("machineosconfigs", MOSC)["status"]["currentImagePullSpec"]
    assert local.registry.inspect_raw(current)  # the current image is never deleted


def set_desired_image(local: LocalCluster, node: str, image: str | None) -> None:
    body = {"metadata": {"annotations": {DESIRED_IMAGE_ANNOTATION: image}}}
    local.core.patch_node(node, body)


def test_six_edits_keep_the_retained_and_what_is_in_use(local: LocalCluster) -> None:
    local.add_pool(MOSC, ("amd64", "arm64"))
    node = f"{MOSC}-arm64-0"
    m = {1: edit(local, MOSC, amd=1, arm=1)}  # builds amd64 and arm64
    m[2] = edit(local, MOSC, amd=1, arm=2)  # arm64 only: amd64 reused from m1, and so on
    m2_list = local.get("machineosbuilds", m[2])["status"]["digestedImagePushSpec"]
    set_desired_image(local, node, m2_list)  # a node is moving to m2's image
    for k in range(3, 7):
        m[k] = edit(local, MOSC, amd=1, arm=k)
    # m6 current, m5 and m4 retained; m1's amd64 image is what they all reuse; m2's list
    # and its arm64 image are the node's desired image. m1's list, m1-arm64 and m3 went.
    converged(local, own(m[4], m[5], m[6]) | {f"{m[1]}-amd64"} | own(m[2]))
    kept = " ".join(e["message"] for e in events(local, MOSC, "ImagesKept"))
    assert f"{m[1]}-amd64: reused by MachineOSBuild" in kept
    assert f"node {node}'s desiredImage" in kept
    assert any(m[3] in e["message"] for e in events(local, MOSC, "ImagesPruned"))

    set_desired_image(local, node, None)  # the node got there; nothing names m2 now
    m[7] = edit(local, MOSC, amd=2, arm=7)  # both rebuilt; m4 retires, m2's images go
    converged(local, own(m[5], m[6]) | own(m[7], arch=("amd64", "arm64")) | {f"{m[1]}-amd64"})
    m[8] = edit(local, MOSC, amd=2, arm=8)
    m[9] = edit(local, MOSC, amd=2, arm=9)  # m6 retires: nothing reuses m1's amd64 any more
    converged(local, own(m[7], arch=("amd64", "arm64")) | own(m[8], m[9]))
    assert local.operator is not None
    scraped = dict(
        line.rsplit(" ", 1) for line in local.operator.scrape().splitlines() if "prune" in line
    )
    # m1..m6: six lists, six arm64 images, m1's amd64 (m7..m9 stay)
    assert scraped['mosb_pruned_images_total{mosc="prune"}'] == "13.0"
    assert float(scraped['mosb_pruned_bytes_total{mosc="prune"}']) > 0  # as the manifests say


def test_a_mosb_deleted_while_the_operator_is_down_is_pruned_after_restart(
    local: LocalCluster,
) -> None:
    """The state a crash between deleting a MOSB and pruning its tags leaves: pruning
    compares the repository with the live records, so a restart finds it."""
    op = local.operator
    assert op is not None
    retained = sorted(t for t in tags(local, MOSC) if t.count("-") == 1)  # list tags
    current = local.get("machineosconfigs", MOSC)["status"]["machineOSBuild"]["name"]
    victim = next(t for t in retained if t != current and f"{t}-amd64" not in tags(local, MOSC))
    op.stop(signal.SIGKILL)
    local.custom.delete_cluster_custom_object(
        "machineconfiguration.openshift.io", "v1", "machineosbuilds", victim
    )
    before = tags(local, MOSC)
    op.start()
    converged(local, before - {victim, f"{victim}-arm64"})


def test_operator_frozen_the_moment_a_build_retires_converges_after_restart(
    local: LocalCluster,
) -> None:
    """Killed right after the pass deleted a retired MOSB: whether its round pruned yet or
    not (the test prints which), after the restart exactly the unused tags are gone."""
    op = local.operator
    assert op is not None
    m10 = edit(local, MOSC, amd=2, arm=10)
    live = {m["metadata"]["name"] for m in mosbs(local, MOSC)}
    m7 = next(t for t in live if f"{t}-amd64" in tags(local, MOSC))  # the one that built amd64
    previous = published(local, MOSC)
    apply(local, MOSC, amd=2, arm=11)  # once it succeeds, m7 retires
    wait(lambda: m7 not in {m["metadata"]["name"] for m in mosbs(local, MOSC)}, 240, "m7 gone")
    op.freeze()
    print(f"frozen with {len(tags(local, MOSC))} tags; m7's list there: {m7 in tags(local, MOSC)}")
    op.stop(signal.SIGKILL)
    op.start()
    m11 = published_after(local, MOSC, previous)
    retained = live - {m7}
    assert m10 in retained
    converged(local, own(*retained, m11) | {f"{m7}-amd64"})  # every retained one reuses it
