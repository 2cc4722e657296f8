"""The two modes in the planner, pure: alongside-mco's identity, base image, publishing
MachineConfig and its absence of a loop; builder mode's upstream pool reasons and the
push-secret annotation; our CRDs equal upstream's but for group and short names."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import (
    ARCH_BUILDS_ANNOTATION,
    EXTENSION_GROUP,
    MACHINE_CONFIG_ROLE_LABEL,
    OSIMAGEURL_CONFIGMAP,
    OSIMAGEURL_NAMESPACE,
    PAUSED_BY_US_ANNOTATION,
    PUBLISHED_BY_LABEL,
    RENDERED_IMAGE_PUSH_SECRET_ANNOTATION,
    MachineConfig,
    MachineConfigPool,
    MachineOSBuild,
    MachineOSConfig,
    Mode,
    decode_arch_builds,
    published_config_name,
)
from mosb_controller import dryrun
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.hold import PoolHold
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import MosbAction, Plan, plan_mosc
from mosb_controller.planning.publish import orphaned_config
from mosb_controller.settings import Settings
from tests.support.builds import (
    LIST_DIGEST,
    created,
    job,
    pod,
    progress,
    started,
    succeeded,
)
from tests.support.factories import NOW, REPO, observed, pool_body, rendered_body

RELEASE = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "a" * 64
UPGRADED = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "b" * 64
CRDS = Path(__file__).parents[2] / "manifests" / "crds"


def alongside(**changes: Any) -> Observed:
    settings = Settings(namespace="mosb", mode=Mode.ALONGSIDE_MCO)
    return observed(**{"settings": settings, "release_base": RELEASE, **changes})


def pool_on(config: str) -> MachineConfigPool:
    body = pool_body(node_selector={})
    body["spec"]["configuration"] = {"name": config}
    return MachineConfigPool.from_k8s(body)


def rendered(config: str, os_image: str) -> MachineConfig:
    body = rendered_body(os_image=os_image)
    body["metadata"]["name"] = config
    return MachineConfig.from_k8s(body)


# -- alongside-mco: identity and base ---------------------------------------------------
def test_alongside_builds_on_the_release_base_not_the_rendered_image() -> None:
    obs = alongside(rendered=rendered("rendered-worker-1", f"{REPO}@{LIST_DIGEST}"))
    _, mosb = created(obs)
    (configmap,) = plan_mosc(replace(obs, mosbs={mosb.name: mosb})).create_configmaps
    assert f"FROM {RELEASE} AS configs" in configmap["data"]["Containerfile.amd64"]


def test_alongside_without_a_release_base_refuses_and_needs_no_rendered_config() -> None:
    plan = plan_mosc(alongside(release_base=None, rendered=None))
    assert plan.refusal is not None and plan.refusal.reason == "NoBaseImage"
    assert plan_mosc(alongside(rendered=None)).refusal is None


def test_the_rendered_config_is_an_input_in_builder_mode_only() -> None:
    moved = {"pool": pool_on("rendered-worker-2")}
    assert plan_mosc(alongside()).mosb_name == plan_mosc(alongside(**moved)).mosb_name
    assert plan_mosc(observed()).mosb_name != plan_mosc(observed(**moved)).mosb_name


def test_a_release_upgrade_renames_the_build_and_rebuilds_every_architecture() -> None:
    before, after = plan_mosc(alongside()), plan_mosc(alongside(release_base=UPGRADED))
    assert before.mosb_name != after.mosb_name
    assert {d.key for d in before.decisions}.isdisjoint({d.key for d in after.decisions})


# -- alongside-mco: publishing ----------------------------------------------------------
def test_a_succeeded_build_publishes_one_machineconfig_by_digest() -> None:
    obs = alongside()
    done, _ = succeeded(obs)
    config = done.publish_config
    assert config is not None
    assert config["metadata"]["name"] == published_config_name("worker")
    assert config["spec"] == {"osImageURL": f"{REPO}@{LIST_DIGEST}"}
    assert config["metadata"]["labels"][MACHINE_CONFIG_ROLE_LABEL] == "worker"
    assert config["metadata"]["labels"][PUBLISHED_BY_LABEL] == "worker"
    assert config["metadata"]["ownerReferences"][0]["apiVersion"] == f"{EXTENSION_GROUP}/v1"
    MachineConfig.from_k8s(config)  # a valid MachineConfig
    assert done.pool_condition is None  # nothing in the pool's status in this mode
    assert done.mosc_status is not None
    assert done.mosc_status.to_k8s()["machineOSBuild"]["group"] == EXTENSION_GROUP
    assert [e.reason for e in done.events if e.reason == "ImagePublished"] == ["ImagePublished"]


def test_our_objects_name_owners_in_our_group() -> None:
    obs = alongside()
    plan, mosb = created(obs)
    assert plan.create_mosb is not None
    (owner,) = plan.create_mosb.to_k8s()["metadata"]["ownerReferences"]
    assert owner["apiVersion"] == f"{EXTENSION_GROUP}/v1"
    for body in progress(obs, mosb, {}, {}).create_jobs:
        assert body["metadata"]["ownerReferences"][0]["apiVersion"] == f"{EXTENSION_GROUP}/v1"
    assert MachineOSBuild.from_k8s({**plan.create_mosb.to_k8s(), "apiVersion": owner["apiVersion"]})


def test_the_pool_role_comes_from_its_machineconfig_selector() -> None:
    body = pool_body("infra", node_selector={}, machine_config_selector={
        "matchLabels": {MACHINE_CONFIG_ROLE_LABEL: "infra-role"}})  # fmt: skip
    mosc_body = alongside().mosc.to_k8s()
    mosc_body["metadata"]["name"] = "infra"
    mosc_body["spec"]["machineConfigPool"]["name"] = "infra"
    obs = alongside(pool=MachineConfigPool.from_k8s(body), mosc=MachineOSConfig.from_k8s(mosc_body))
    done, _ = succeeded(obs)
    assert done.publish_config is not None
    assert done.publish_config["metadata"]["name"] == published_config_name("infra")
    assert done.publish_config["metadata"]["labels"][MACHINE_CONFIG_ROLE_LABEL] == "infra-role"


def test_no_loop_the_pool_rendering_our_image_builds_and_writes_nothing() -> None:
    obs = alongside()
    done, mosb = succeeded(obs)
    assert done.publish_config is not None
    ours = MachineConfig.from_k8s(done.publish_config)
    # As the MCO renders it: a new rendered config whose osImageURL is our list.
    new_config = "rendered-worker-2"
    later = replace(
        obs,
        pool=pool_on(new_config),
        rendered=rendered(new_config, f"{REPO}@{LIST_DIGEST}"),
        published=ours,
        mosbs={mosb.name: mosb},
        mosc=MachineOSConfig.from_k8s(
            {
                **obs.mosc.to_k8s(),
                "metadata": {
                    **obs.mosc.to_k8s()["metadata"],
                    "annotations": dict(done.mosc_annotations),
                },
                "status": done.mosc_status.to_k8s() if done.mosc_status else {},
            }
        ),
    )
    plan = plan_mosc(later)
    assert plan.mosb_name == mosb.name and plan.mosb_action is MosbAction.KEEP
    assert plan.create_mosb is None and not plan.create_jobs and not plan.image_checks
    assert plan.publish_config is None and plan.mosc_status is None
    assert not plan.mosc_annotations and not plan.mosb_status and not plan.events
    assert plan.pool_condition is None


def test_a_failed_build_leaves_the_published_machineconfig_alone() -> None:
    obs = alongside()
    mosb, jobs = started(obs)
    arm = jobspec.build_job_name(mosb.name, "arm64")
    jobs[arm] = job(arm, failed=True)
    plan = progress(obs, mosb, jobs, {arm: [pod(arm, phase="Failed", exit_code=1, message="x")]})
    assert plan.mosb_status[mosb.name].terminal == "Failed"
    assert plan.publish_config is None


def test_only_our_labelled_machineconfig_of_a_deleted_mosc_is_removed() -> None:
    name = published_config_name("worker")
    mine = MachineConfig.from_k8s(
        {"metadata": {"name": name, "labels": {PUBLISHED_BY_LABEL: "worker"}}}
    )
    admins = MachineConfig.from_k8s({"metadata": {"name": name}})
    assert orphaned_config("worker", {name: mine}) == name
    assert orphaned_config("worker", {name: admins}) is None
    assert orphaned_config("infra", {name: mine}) is None


# -- builder mode: upstream's pool reasons and annotation --------------------------------
@pytest.mark.parametrize(
    ("stage", "status", "reason"),
    [
        ("pending", "False", "BuildPending"),
        ("prepared", "False", "Building"),
        ("building", "False", "Building"),
        ("failed", "True", "BuildFailed"),
        ("interrupted", "False", "BuildInterrupted"),
        ("succeeded", "False", "BuildSuccess"),
    ],
)
def test_builder_mode_sets_upstream_image_build_degraded_reasons(
    stage: str, status: str, reason: str
) -> None:
    plan = _builder_at(stage)
    assert plan.pool_condition is not None
    condition = plan.pool_condition.to_k8s()
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "ImageBuildDegraded",
        status,
        reason,
    )


def _builder_at(stage: str) -> Plan:
    obs = observed()
    if stage == "pending":  # the last build failed; the next one is not created yet
        failed = _builder_at("failed").pool_condition
        assert failed is not None
        body = pool_body(node_selector={})
        body["status"] = {"conditions": [failed.to_k8s()]}
        return plan_mosc(replace(obs, pool=MachineConfigPool.from_k8s(body)))
    _, mosb = created(obs)
    if stage == "prepared":
        return progress(obs, mosb, {}, {})
    mosb, jobs = started(obs)
    amd = jobspec.build_job_name(mosb.name, "amd64")
    if stage == "building":
        return progress(obs, mosb, jobs, {amd: [pod(amd, phase="Running")]})
    if stage == "failed":
        jobs[amd] = job(amd, failed=True)
        return progress(obs, mosb, jobs, {amd: [pod(amd, phase="Failed", exit_code=1)]})
    if stage == "interrupted":  # a pass saw the Jobs running, then one was deleted
        seen = progress(obs, mosb, jobs, {}).mosb_annotations[mosb.name]
        mosb = replace(mosb, records=decode_arch_builds(seen[ARCH_BUILDS_ANNOTATION]))
        del jobs[amd]
        return progress(obs, mosb, jobs, {})
    done, _ = succeeded(obs)
    return done


def test_every_build_carries_the_push_secret_annotation_upstreams_pruner_reads() -> None:
    for obs in (observed(), alongside()):
        plan, mosb = created(obs)
        assert plan.create_mosb is not None
        annotations = plan.create_mosb.metadata.annotations
        assert annotations[RENDERED_IMAGE_PUSH_SECRET_ANNOTATION] == "push"
    # A build created before the annotation existed gets it on its next pass.
    bare = replace(mosb, annotations={})
    assert progress(obs, bare, {}, {}).mosb_annotations[mosb.name][
        RENDERED_IMAGE_PUSH_SECRET_ANNOTATION
    ] == "push"  # fmt: skip


def test_current_build_names_a_build_of_the_pools_configuration() -> None:
    """The node controller clears current-machine-os-build as stale unless the MOSB's
    spec.machineConfig.name is the pool's configuration: it always is."""
    for config in ("rendered-worker-1", "rendered-worker-2"):
        obs = observed(pool=pool_on(config), rendered=rendered(config, RELEASE))
        plan, _ = created(obs)
        assert plan.create_mosb is not None
        assert plan.mosc_annotations[
            "machineconfiguration.openshift.io/current-machine-os-build"
        ] == plan.create_mosb.name  # fmt: skip
        assert plan.create_mosb.spec.machine_config.name == config


# -- our CRDs ------------------------------------------------------------------------------
@pytest.mark.parametrize(("plural", "short"), [("machineosconfigs", "mamosc"),
                                               ("machineosbuilds", "mamosb")])  # fmt: skip
def test_our_crds_are_upstreams_but_for_group_and_short_name(plural: str, short: str) -> None:
    upstream = yaml.safe_load((CRDS / f"{plural}.yaml").read_text())
    ours = yaml.safe_load((CRDS / "extension" / f"{plural}.yaml").read_text())
    assert ours["metadata"]["name"] == f"{plural}.{EXTENSION_GROUP}"
    assert ours["spec"]["group"] == EXTENSION_GROUP
    assert ours["spec"]["names"].pop("shortNames") == [short]
    for crd in (upstream, ours):
        del crd["metadata"], crd["spec"]["group"]
    assert ours == upstream


# -- alongside-mco: holding the pool during an upgrade's rebuild ---------------------------
def published_on(base: str) -> MachineConfig:
    """Our MachineConfig as the API shows it after a build on `base` was published."""
    done, _ = succeeded(alongside(release_base=base))
    assert done.publish_config is not None
    return MachineConfig.from_k8s(done.publish_config)


def pool_with(paused: bool, ours: bool) -> MachineConfigPool:
    body = pool_body(node_selector={})
    body["spec"]["paused"] = paused
    if ours:
        body["metadata"]["annotations"] = {PAUSED_BY_US_ANNOTATION: "{}"}
    return MachineConfigPool.from_k8s(body)


def upgrade(**changes: Any) -> Observed:
    """The base moved to UPGRADED while our image on RELEASE is published."""
    return alongside(**{"release_base": UPGRADED, "published": published_on(RELEASE), **changes})


def test_an_upgrade_pauses_the_pool_with_why_and_until_when() -> None:
    plan = plan_mosc(upgrade())
    assert plan.create_mosb is not None or plan.image_checks
    assert plan.pool_hold is not None and plan.pool_hold.paused is True
    note = json.loads(plan.pool_hold.note or "")
    assert UPGRADED in note["reason"] and plan.mosb_name in note["until"]
    assert note["machineOSBuild"] == plan.mosb_name and note["since"]
    assert [e.reason for e in plan.events] == ["PoolPausedForRebuild"]


@pytest.mark.parametrize(
    ("paused", "ours", "enabled"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
    ids=["an admin's pause", "an admin lifted ours", "held already", "turned off"],
)
def test_no_pause_is_written_over_an_admin_or_twice_or_when_off(
    paused: bool, ours: bool, enabled: bool
) -> None:
    settings = Settings(namespace="mosb", mode=Mode.ALONGSIDE_MCO, pause_pools_on_upgrade=enabled)
    assert plan_mosc(upgrade(pool=pool_with(paused, ours), settings=settings)).pool_hold is None


def test_the_hold_is_released_once_the_new_image_is_seen_published() -> None:
    obs = alongside(
        release_base=UPGRADED, published=published_on(RELEASE), pool=pool_with(True, True)
    )
    done, mosb = succeeded(obs)
    assert done.publish_config is not None and done.pool_hold is None  # not before it is seen
    seen = replace(
        obs, mosbs={mosb.name: mosb}, published=MachineConfig.from_k8s(done.publish_config)
    )
    released = plan_mosc(seen)
    assert released.pool_hold == PoolHold(paused=False, note=None)
    assert "PoolReleased" in [e.reason for e in released.events]
    # An admin's pause is never lifted: without our annotation, nothing is written.
    assert plan_mosc(replace(seen, pool=pool_with(True, False))).pool_hold is None


def test_a_failed_upgrade_build_releases_the_pool_with_a_warning() -> None:
    obs = alongside(
        release_base=UPGRADED, published=published_on(RELEASE), pool=pool_with(True, True)
    )
    mosb, jobs = started(obs)
    arm = jobspec.build_job_name(mosb.name, "arm64")
    jobs[arm] = job(arm, failed=True)
    plan = progress(obs, mosb, jobs, {arm: [pod(arm, phase="Failed", exit_code=1, message="x")]})
    assert plan.pool_hold == PoolHold(paused=False, note=None)
    assert plan.publish_config is None
    (warning,) = [e for e in plan.events if e.reason == "PoolReleasedBuildFailed"]
    assert warning.type == "Warning"


def test_the_dry_run_plans_alongside_from_the_osimageurl_configmap() -> None:
    mosc_body = {**alongside().mosc.to_k8s(), "apiVersion": f"{EXTENSION_GROUP}/v1"}
    configmap = {
        "kind": "ConfigMap",
        "metadata": {"name": OSIMAGEURL_CONFIGMAP, "namespace": OSIMAGEURL_NAMESPACE},
        "data": {"baseOSContainerImage": RELEASE},
    }
    node = {"kind": "Node", "metadata": {"name": "n", "labels": {"kubernetes.io/arch": "arm64"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
    objects = [mosc_body, pool_body(node_selector={}), node, configmap]
    settings = Settings(namespace="mosb", mode=Mode.ALONGSIDE_MCO)
    obs = dryrun.observed_from_objects(objects, mosc_name=None, settings=settings, now=NOW)
    assert obs.release_base == RELEASE and obs.rendered is None
    plan = plan_mosc(obs)
    assert (plan.refusal is None and plan.create_mosb is not None) or plan.image_checks
    without = dryrun.observed_from_objects(objects[:-1], mosc_name=None, settings=settings, now=NOW)
    assert plan_mosc(without).refusal is not None
