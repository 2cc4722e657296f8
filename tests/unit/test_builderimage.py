"""Which image the build and push Jobs run: set, the MCO's own (OpenShift), or the default."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from api import EventReason
from api.names import MCO_IMAGES_KEY
from mosb_controller.planning.builderimage import mco_image
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import MosbAction, plan_mosc
from mosb_controller.settings import DEFAULT_BUILDER_IMAGE, Settings
from tests.support.builds import created, finish_builds, progress, started
from tests.support.factories import observed

MCO_IMAGE = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "5" * 64
IMAGES_CONFIGMAP = "openshift-machine-config-operator/machine-config-operator-images"


def _images(job: dict[str, Any]) -> list[str]:
    return [c["image"] for c in job["spec"]["template"]["spec"]["containers"]]


def _job_images(obs: Observed) -> set[str]:
    """The images of the build Jobs and of the push Job the build then creates."""
    _, mosb = created(obs)
    builds = progress(obs, mosb, {}, {}).create_jobs
    mosb, jobs = started(obs)
    _, pods = finish_builds(obs, mosb, jobs)  # the push Job comes after the builds
    push = progress(obs, mosb, jobs, pods).create_jobs
    assert builds and [j["metadata"]["name"] for j in push] == [f"{mosb.name}-push"]
    return {image for job in [*builds, *push] for image in _images(job)}


def _settings(**values: str) -> Settings:
    return Settings(namespace="mosb", **values)


def test_a_plain_cluster_builds_with_the_default_image() -> None:
    assert _job_images(observed()) == {DEFAULT_BUILDER_IMAGE}


def test_on_openshift_the_mcos_own_image_builds_and_pushes() -> None:
    obs = observed(settings=_settings(mco_images_configmap=IMAGES_CONFIGMAP), mco_image=MCO_IMAGE)
    assert _job_images(obs) == {MCO_IMAGE}


def test_a_set_builder_image_wins_over_the_mcos() -> None:
    settings = _settings(mco_images_configmap=IMAGES_CONFIGMAP, builder_image="example.com/b:1")
    assert _job_images(observed(settings=settings, mco_image=MCO_IMAGE)) == {"example.com/b:1"}


def test_a_missing_mco_image_is_refused_naming_the_configmap_and_the_way_out() -> None:
    obs = observed(settings=_settings(mco_images_configmap=IMAGES_CONFIGMAP))
    plan = plan_mosc(obs)
    assert plan.refusal is not None and plan.create_mosb is None
    assert plan.refusal.reason == EventReason.BUILDER_IMAGE_NOT_FOUND
    assert IMAGES_CONFIGMAP in plan.refusal.message
    assert "--builder-image" in plan.refusal.message
    # once it is there, the same MOSC goes on to build
    later = plan_mosc(replace(obs, mco_image=MCO_IMAGE))
    assert later.refusal is None and later.mosb_action is MosbAction.CREATE


def test_the_builder_image_is_no_build_input() -> None:
    """A new release's MCO image builds the next build; it rebuilds nothing by itself."""
    settings = _settings(mco_images_configmap=IMAGES_CONFIGMAP)
    before = plan_mosc(observed(settings=settings, mco_image=MCO_IMAGE)).mosb_name
    after = plan_mosc(observed(settings=settings, mco_image=MCO_IMAGE + "0")).mosb_name
    assert before is not None and before == after


@pytest.mark.parametrize(
    ("data", "found"),
    [
        ({MCO_IMAGES_KEY: json.dumps({"machineConfigOperator": MCO_IMAGE})}, MCO_IMAGE),
        ({MCO_IMAGES_KEY: json.dumps({"machineConfigOperator": "  "})}, None),
        ({MCO_IMAGES_KEY: json.dumps({"machineConfigOperator": 3})}, None),
        ({MCO_IMAGES_KEY: json.dumps(["machineConfigOperator"])}, None),
        ({MCO_IMAGES_KEY: "{not json"}, None),
        ({"other.json": "{}"}, None),
        (None, None),
    ],
)
def test_the_images_configmap_is_read_or_named_unusable(
    data: dict[str, str] | None, found: str | None
) -> None:
    assert mco_image(data) == found
