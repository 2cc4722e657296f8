"""The image the build and push Jobs run: the one set, the MCO's own, or the default. Pure.

Upstream builds with the MCO's own image from the release payload: it is multi-arch, so
every architecture's build pod finds its variant, and it is already in every mirror of the
payload, so a disconnected cluster needs nothing more. On OpenShift (a setting names the
MCO's images ConfigMap) we build with it too: the cluster layer reads that ConfigMap each
pass and the planner takes the image it names. A set `--builder-image` always wins; a
plain cluster, which has no such ConfigMap, gets `DEFAULT_BUILDER_IMAGE`. The scripts need
only what the MCO image ships (tests/registry/test_builder_tools.py).

The image is no build input: a new release's MCO image builds the next build, but
rebuilds nothing by itself (its base image change does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from api import EventReason
from api.names import MCO_IMAGE_FIELD, MCO_IMAGES_KEY
from mosb_controller.planning.buildsecrets import reference
from mosb_controller.planning.inputs import BuildInputs, Refusal
from mosb_controller.planning.observed import Observed
from mosb_controller.settings import DEFAULT_BUILDER_IMAGE


def mco_image(data: Mapping[str, str] | None) -> str | None:
    """The MCO's image named by the images ConfigMap's data, or None if it names none."""
    try:
        images = json.loads((data or {}).get(MCO_IMAGES_KEY) or "null")
    except ValueError:
        return None
    image = images.get(MCO_IMAGE_FIELD) if isinstance(images, dict) else None
    return image.strip() if isinstance(image, str) and image.strip() else None


def builder_image(obs: Observed) -> str | Refusal:
    settings = obs.settings
    if settings.builder_image:
        return settings.builder_image
    configmap = reference(settings.mco_images_configmap)
    if configmap is None:
        return DEFAULT_BUILDER_IMAGE
    if obs.mco_image is not None:
        return obs.mco_image
    namespace, name = configmap
    return Refusal(
        EventReason.BUILDER_IMAGE_NOT_FOUND,
        f"no builder image: the ConfigMap {namespace}/{name} is missing or its "
        f"{MCO_IMAGES_KEY} names no {MCO_IMAGE_FIELD} image (set --builder-image to choose one)",
    )


def check(inputs: BuildInputs, obs: Observed) -> BuildInputs | Refusal:
    """The inputs with the image their Jobs run."""
    image = builder_image(obs)
    return image if isinstance(image, Refusal) else replace(inputs, builder_image=image)
