"""Upstream's rebuild rule, per architecture and for the list: a new rendered config that
changes none of the rebuild inputs is a new MOSB that reuses every image and the list."""

from __future__ import annotations

from dataclasses import replace

from api import REBUILD_ANNOTATION, ArchBuildPhase, MachineOSBuildStatus
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.observed import ImageCheck, MosbView, Observed, RegistryAnswer
from mosb_controller.planning.plan import plan_mosc
from tests.support.builds import LIST_DIGEST, created, finished_status, pushed
from tests.support.factories import ARCHES, REPO, mosc, observed, pool_on, rendered_os

LIST = f"{REPO}@{LIST_DIGEST}"


def on(name: str, **os: object) -> Observed:
    return observed(pool=pool_on(name), rendered=rendered_os(name, **os))  # type: ignore[arg-type]


def published(obs: Observed) -> MosbView:
    """The MOSB of `obs`, built and joined into LIST, as the API then stores it."""
    mosb, done = pushed(obs)
    status = done.mosb_status[mosb.name].to_k8s()
    assert status["digestedImagePushSpec"] == LIST
    return replace(mosb, status=MachineOSBuildStatus.from_k8s(finished_status("Succeeded")
                                                               | status))  # fmt: skip


def images_exist(refs: list[str]) -> dict[str, ImageCheck]:
    """The registry: every per-arch image of the earlier build, and its list, exist; no
    new MOSB's tag does."""
    answers = {}
    for ref in refs:
        digest = ref.partition("@")[2]
        found = ImageCheck(RegistryAnswer.EXISTS, digest=digest)
        answers[ref] = found if digest else ImageCheck(RegistryAnswer.ABSENT)
    return answers


def next_build(old: MosbView, obs: Observed) -> tuple[MosbView, Observed]:
    """The MOSB `obs` creates while `old` is published, every image found in the registry."""
    obs = replace(obs, mosbs={old.name: old})
    asked = plan_mosc(obs).image_checks
    obs = replace(obs, images=images_exist(asked))
    _, mosb = created(obs)
    return mosb, obs


def test_a_file_only_edit_is_a_new_mosb_with_no_build_and_no_push() -> None:
    old = published(on("rendered-worker-1", files={"/etc/motd": "one"}))
    mosb, obs = next_build(old, on("rendered-worker-2", files={"/etc/motd": "two"}))
    assert mosb.name != old.name and mosb.rendered_config == "rendered-worker-2"
    assert {r.phase for r in mosb.records.values()} == {ArchBuildPhase.REUSED}
    assert {r.reused_from for r in mosb.records.values()} == {old.name}
    ask = plan_mosc(replace(obs, mosbs={old.name: old, mosb.name: mosb}))
    assert ask.create_jobs == [] and ask.image_checks == [LIST]  # the list is checked first
    obs = replace(obs, mosbs={old.name: old, mosb.name: mosb},
                  images={**obs.images, **images_exist([LIST])})  # fmt: skip
    done = plan_mosc(obs)
    assert done.create_jobs == []  # no build Job, no push Job
    status = done.mosb_status[mosb.name].to_k8s()
    assert status["digestedImagePushSpec"] == LIST
    assert "list of " + old.name + " reused" in done.mosb_status[mosb.name].conditions[-1].message
    assert done.mosc_status is not None and done.mosc_status.current_image_pull_spec == LIST


def test_a_list_no_longer_in_the_registry_is_pushed_again() -> None:
    old = published(on("rendered-worker-1"))
    mosb, obs = next_build(old, on("rendered-worker-2", files={"/etc/motd": "two"}))
    gone = {LIST: ImageCheck(RegistryAnswer.ABSENT)}
    plan = plan_mosc(replace(obs, mosbs={old.name: old, mosb.name: mosb},
                             images={**obs.images, **gone}))  # fmt: skip
    assert [j["metadata"]["name"] for j in plan.create_jobs] == [jobspec.push_job_name(mosb.name)]


def test_adding_an_extension_rebuilds_every_architecture() -> None:
    old = published(on("rendered-worker-1"))
    mosb, _ = next_build(old, on("rendered-worker-2", extensions=("usbguard",)))
    assert {r.phase for r in mosb.records.values()} == {ArchBuildPhase.PENDING}


def test_each_rebuild_input_rebuilds_the_architectures_it_changes() -> None:
    old = published(on("rendered-worker-1"))
    edits: list[tuple[dict[str, object], set[str]]] = [
        ({"kernel_type": "realtime"}, set(ARCHES)),
        ({"kernel_type": "64k-pages"}, {"arm64"}),
        ({"kernel_arguments": ("nosmt",)}, set(ARCHES)),
        ({"extensions_image": "registry.example.com/ext@sha256:" + "8" * 64}, set(ARCHES)),
        ({"files": {"/etc/a": "b"}}, set()),
    ]
    for edit, rebuilt in edits:
        mosb, _ = next_build(old, on("rendered-worker-2", **edit))
        building = {a for a, r in mosb.records.items() if r.phase is ArchBuildPhase.PENDING}
        assert building == rebuilt, edit


def test_the_rebuild_annotation_still_rebuilds_everything() -> None:
    old = published(on("rendered-worker-1"))
    obs = on("rendered-worker-1")
    obs = replace(obs, mosc=mosc(annotations={REBUILD_ANNOTATION: ""}), mosbs={})
    _, mosb = created(replace(obs, mosbs={}))
    assert mosb.name == old.name
    assert {r.phase for r in mosb.records.values()} == {ArchBuildPhase.PENDING}
    assert mosb.fresh
