"""alongside-mco publishing: the one MachineConfig per pool that carries our image. Pure.

The MCO renders a pool's MachineConfigs sorted by name, the last non-empty `osImageURL`
winning, and rolls the result out node by node; each node resolves its own architecture
from our manifest list. So the MachineConfig is named to merge last, carries the pool's
role label, and is written only when a build succeeded and its digest differs: a failed
build leaves the last published image in place. Deleting the MOSC removes it, which takes
the pool back to the release's image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api import (
    API_VERSION,
    BASE_IMAGE_ANNOTATION,
    EXTENSION_API_VERSION,
    MACHINE_CONFIG_ROLE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MOSB_ANNOTATION,
    PUBLISHED_BY_LABEL,
    EventReason,
    EventType,
    MachineConfig,
    MachineConfigPool,
    MachineOSConfig,
    published_config_name,
)
from mosb_controller.planning.events import MOSC_KIND, EventSpec


def role(pool: MachineConfigPool) -> str:
    """The role label value the pool selects its MachineConfigs by (`worker`, or a custom
    pool's own role); the pool's name when its selector names none."""
    selector = pool.spec.machine_config_selector
    if selector is not None and MACHINE_CONFIG_ROLE_LABEL in selector.match_labels:
        return selector.match_labels[MACHINE_CONFIG_ROLE_LABEL]
    return pool.name


def published_config(
    mosc: MachineOSConfig,
    mosc_uid: str,
    pool: MachineConfigPool,
    mosb: str,
    digested: str,
    base: str,
    current: MachineConfig | None,
) -> dict[str, Any] | None:
    """The MachineConfig publishing `digested` (built on `base`) for the pool; None when
    it already does."""
    annotations = {MOSB_ANNOTATION: mosb, BASE_IMAGE_ANNOTATION: base}
    labels = {
        MACHINE_CONFIG_ROLE_LABEL: role(pool),
        PUBLISHED_BY_LABEL: mosc.name,
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    if (
        current is not None
        and current.spec.os_image_url == digested
        and all(current.metadata.labels.get(k) == v for k, v in labels.items())
        and all(current.metadata.annotations.get(k) == v for k, v in annotations.items())
    ):
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": MachineConfig.KIND,
        "metadata": {
            "name": published_config_name(pool.name),
            "labels": labels,
            "annotations": annotations,
            # Garbage collection removes it with our MOSC even while we are not running.
            "ownerReferences": [
                {
                    "apiVersion": EXTENSION_API_VERSION,
                    "kind": MachineOSConfig.KIND,
                    "name": mosc.name,
                    "uid": mosc_uid,
                }
            ],
        },
        "spec": {"osImageURL": digested},
    }


def published_events(mosc: str, config: Mapping[str, Any] | None) -> list[EventSpec]:
    """Tell the MOSC's readers where its image went (once: the write is then seen)."""
    if config is None:
        return []
    name, image = config["metadata"]["name"], config["spec"]["osImageURL"]
    message = f"published {image} through MachineConfig {name}"
    return [EventSpec(MOSC_KIND, mosc, EventType.NORMAL, EventReason.IMAGE_PUBLISHED, message)]


def orphaned_config(mosc: str, configs: Mapping[str, MachineConfig]) -> str | None:
    """Our MachineConfig for a MOSC that no longer exists: to delete. Only one we labelled
    as published for that MOSC, never an admin's of the same name."""
    name = published_config_name(mosc)
    config = configs.get(name)
    if config is not None and config.metadata.labels.get(PUBLISHED_BY_LABEL) == mosc:
        return name
    return None
