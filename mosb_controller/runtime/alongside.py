"""alongside-mco in the build loop: the release's base image as the osimageurl watch
reports it, and removing the MachineConfig of a MachineOSConfig that is gone. What to
publish is decided by the plan (`planning.publish`); this is only its I/O side."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from api import MACHINE_CONFIGS, PUBLISHED_BY_LABEL, MachineConfig
from mosb_controller.cluster.kube import Writer
from mosb_controller.planning.publish import orphaned_config
from mosb_controller.runtime.indexes import Indexes
from mosb_controller.runtime.logs import build_fields

log = logging.getLogger(__name__)


class ReleaseBase:
    """The release's base OS image; `listed` once the watch answered (until then a pass
    would refuse every MachineOSConfig for a base it merely has not read yet)."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.base: str | None = None
        self.listed = False
        self.on_change = on_change

    def changed(self, base: str | None) -> None:
        """The watch's answer (event loop): a new base wakes every MachineOSConfig (an
        upgrade rebuilds every architecture); the same one again wakes none."""
        changed = base != self.base or not self.listed
        self.base, self.listed = base, True
        if changed:
            log.info("release base OS image: %s", base or "(none)")
            self.on_change()


def publishing_moscs(configs: Mapping[str, Iterable[MachineConfig]]) -> Iterator[str]:
    """The MachineOSConfigs our MachineConfigs publish for (labelled by us)."""
    for store in list(configs.values()):
        for config in store:
            mosc = config.metadata.labels.get(PUBLISHED_BY_LABEL)
            if mosc:
                yield mosc


def unpublish(writer: Writer, indexes: Indexes, mosc: str) -> str | None:
    """The MOSC is gone: so goes our MachineConfig, taking the pool back to the release's
    image (garbage collection would too, via the owner reference; this does not wait for
    it). Returns the MachineConfig deleted, if any."""
    configs = {name: config for name, store in indexes.configs.items() for config in store}
    orphan = orphaned_config(mosc, configs)
    if orphan is not None:
        log.info("removing MachineConfig %s", orphan, extra=build_fields(mosc))
        writer.delete_cluster_object(MACHINE_CONFIGS, orphan)
    return orphan
