"""Retention and pruning decisions (planning/retention.py): which builds retire, and which
of the repository's tags of retired builds may be deleted, and why the others stay."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from api import (
    ARCH_BUILDS_ANNOTATION,
    ArchBuildPhase,
    ArchBuildRecord,
    MachineOSBuild,
    MachineOSBuildStatus,
    MachineOSConfig,
    encode_arch_builds,
)
from mosb_controller.planning.observed import MosbView
from mosb_controller.planning.plan import plan_mosc
from mosb_controller.planning.retention import (
    Inventory,
    Manifest,
    build_of,
    prune,
    retire,
    survivors,
)
from mosb_controller.settings import Settings
from tests.support.factories import NOW, REPO, mosc_body, observed

PUBLISHED = {
    "group": "machineconfiguration.openshift.io",
    "resource": "machineosbuilds",
    "name": "worker-0000000000000001",
}


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def build(
    n: int, arch_digests: dict[str, int], final: int | None, *, done: bool = True
) -> MosbView:
    """MOSB `worker-<n as 16 hex>`, created n minutes after NOW, with those digests."""
    name = f"worker-{n:016x}"
    records = {
        a: ArchBuildRecord(
            arch=a,
            key=f"k{a}",
            phase=ArchBuildPhase.SUCCEEDED,
            digest=digest(d),
            image=f"{REPO}@{digest(d)}",
        )
        for a, d in arch_digests.items()
    }
    conditions = []
    if done:
        conditions = [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": NOW.isoformat(),
            }
        ]
    status = MachineOSBuildStatus.from_k8s(
        {"conditions": conditions}
        | ({"digestedImagePushSpec": f"{REPO}@{digest(final)}"} if final else {})
    )
    return MosbView(
        name=name,
        uid=f"uid-{n}",
        mosc="worker",
        deleting=False,
        fresh=False,
        created=NOW + dt.timedelta(minutes=n),
        records=records,
        record_error=None,
        status=status,
    )


def tags_of(b: MosbView, final: int) -> dict[str, str]:
    tags = {f"{b.name}-{a}": str(r.digest) for a, r in b.records.items()}
    return tags | {b.name: digest(final)}


def lists(*pairs: tuple[int, tuple[int, ...]]) -> dict[str, Manifest]:
    return {digest(d): Manifest(digest(d), children=tuple(map(digest, c))) for d, c in pairs}


def test_retention_keeps_the_current_the_published_and_the_newest_finished() -> None:
    builds = {b.name: b for b in (build(n, {"amd64": n}, 100 + n) for n in range(1, 7))}
    builds["worker-0000000000000007"] = build(7, {"amd64": 7}, None, done=False)
    body = mosc_body() | {"status": {"machineOSBuild": PUBLISHED}}
    published = MachineOSConfig.from_k8s(body)
    obs = observed(mosbs=builds, mosc=published, settings=Settings(retention_count=2))
    assert retire(obs, "worker-0000000000000007") == [
        "worker-0000000000000002",
        "worker-0000000000000003",
        "worker-0000000000000004",
    ]
    assert retire(replace(obs, settings=Settings(retention_count=10)), "x") == []


def test_the_plan_deletes_retired_builds() -> None:
    builds = {b.name: b for b in (build(n, {"amd64": n}, 100 + n) for n in range(1, 5))}
    plan = plan_mosc(observed(mosbs=builds, settings=Settings(retention_count=1)))
    assert set(plan.delete_mosbs) >= {"worker-0000000000000001", "worker-0000000000000002"}
    assert "worker-0000000000000004" not in plan.delete_mosbs


def test_a_build_created_in_the_pass_that_retires_keeps_what_it_reuses() -> None:
    old = build(1, {"amd64": 1}, 10)
    created = MachineOSBuild.from_k8s(
        {
            "metadata": {
                "name": "worker-0000000000000002",
                "annotations": {
                    ARCH_BUILDS_ANNOTATION: encode_arch_builds(build(2, {"amd64": 1}, None).records)
                },
            },
            "spec": {
                "machineConfig": {"name": "rendered-worker-1"},
                "machineOSConfig": {"name": "worker"},
                "renderedImagePushSpec": f"{REPO}:worker-0000000000000002",
            },
        }
    )
    live = survivors([old], [old.name], created)
    assert [m.name for m in live] == [created.name]
    decision = prune("worker", Inventory(REPO, tags_of(old, 10), {}), live, {}, created.name)
    assert [d.tags for d in decision.deletes] == [(old.name,)]  # the list; amd64 is reused


def test_a_retired_per_arch_image_a_retained_list_reuses_stays_until_unreferenced() -> None:
    old = build(1, {"amd64": 1, "arm64": 2}, 10)
    new = build(2, {"amd64": 3, "arm64": 2}, 11)  # arm64 reused from old
    manifests = lists((10, (1, 2)), (11, (3, 2)))
    tags = tags_of(old, 10) | tags_of(new, 11)
    inventory = Inventory(REPO, tags, manifests)
    decision = prune("worker", inventory, [new], {}, desired=new.name)
    deleted = {d.tags: d.digest for d in decision.deletes}
    assert deleted == {(old.name,): digest(10), (f"{old.name}-amd64",): digest(1)}
    assert decision.kept == {old.name: [f"{old.name}-arm64: reused by MachineOSBuild {new.name}"]}
    # later: `new` retired too, the current build shares nothing: now it goes
    newer = build(3, {"amd64": 4, "arm64": 5}, 12)
    left = {t: d for t, d in tags.items() if t == f"{old.name}-arm64" or t.startswith(new.name)}
    inventory = Inventory(REPO, left | tags_of(newer, 12), manifests | lists((12, (4, 5))))
    decision = prune("worker", inventory, [newer], {}, desired=newer.name)
    assert {t for d in decision.deletes for t in d.tags} == {
        f"{old.name}-arm64",
        new.name,
        f"{new.name}-amd64",
        f"{new.name}-arm64",
    }
    assert sum(1 for d in decision.deletes if d.digest == digest(2)) == 1  # one delete a digest


def test_images_in_use_and_their_children_are_never_deleted() -> None:
    old = build(1, {"amd64": 1, "arm64": 2}, 10)
    new = build(2, {"amd64": 3, "arm64": 4}, 11)
    inventory = Inventory(REPO, tags_of(old, 10) | tags_of(new, 11), lists((10, (1, 2))))
    for who in ("the current image of worker", "node n1's desiredImage"):
        decision = prune("worker", inventory, [new], {f"{REPO}@{digest(10)}": who}, new.name)
        assert decision.deletes == []
        assert decision.kept[old.name][0] == f"{old.name}: {who}"
        assert f"({who})" in decision.kept[old.name][1]


def test_a_digest_another_tag_names_is_kept_and_the_desired_builds_tags_too() -> None:
    old = build(1, {"amd64": 1}, 10)
    tags = tags_of(old, 10) | {"prod": digest(10)}
    decision = prune("worker", Inventory(REPO, tags, {}), [], {}, desired="worker-ffff")
    assert [d.tags for d in decision.deletes] == [(f"{old.name}-amd64",)]
    assert decision.kept == {old.name: [f"{old.name}: tag prod"]}
    decision = prune("worker", Inventory(REPO, tags, {}), [], {}, desired=old.name)
    assert decision.deletes == []  # a retry or rebuild recreates it under the same name


def test_nothing_is_deleted_when_something_cannot_be_read() -> None:
    old = build(1, {"amd64": 1}, 10)
    inventory = Inventory(REPO, tags_of(old, 10), {}, {f"{REPO}:x": "unauthorized"})
    decision = prune("worker", inventory, [], {}, desired="worker-ffff")
    assert decision.deletes == [] and decision.blocked is not None
    assert "unauthorized" in decision.blocked
    in_use = {f"{REPO}:moving": "node n1's desiredImage"}  # a tag the registry lacks
    decision = prune("worker", Inventory(REPO, tags_of(old, 10), {}), [], in_use, "worker-ffff")
    assert decision.deletes == [] and "node n1" in str(decision.blocked)


def test_only_this_mosc_builds_tags_are_candidates() -> None:
    assert build_of("worker", "worker-0123456789abcdef-arm64") == "worker-0123456789abcdef"
    assert build_of("worker", "worker-0123456789abcdef") == "worker-0123456789abcdef"
    assert build_of("worker", "worker-rt-0123456789abcdef") is None
    assert build_of("worker", "worker-0123456789abcdef-riscv") is None
    assert build_of("worker", "latest") is None
