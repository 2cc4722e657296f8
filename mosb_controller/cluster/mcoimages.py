"""The MCO's images ConfigMap, read when it names the builder image (planning/builderimage.py).

Read on demand, not watched: a watch would need a second namespace in kopf's one set (see
cluster/osimageurl.py), and a new release's MCO image matters only to the next build. As
cluster/network.py does, one read serves every MachineOSConfig's passes for a few seconds
(cluster/recent.py: a burst of passes makes one GET).
"""

from __future__ import annotations

import dataclasses

from mosb_controller.cluster.kube import Writer
from mosb_controller.cluster.recent import RecentReads
from mosb_controller.planning.builderimage import mco_image
from mosb_controller.planning.buildsecrets import reference
from mosb_controller.planning.observed import Observed


class McoImages:
    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._read: RecentReads[tuple[str, str], str | None] = RecentReads()

    def observe(self, obs: Observed) -> Observed:
        """`obs` with the MCO's image, when the build's image comes from it."""
        configmap = reference(obs.settings.mco_images_configmap)
        if configmap is None or obs.settings.builder_image:
            return obs
        image = self._read.get(
            configmap, lambda: mco_image(self.writer.read_configmap_data(*configmap))
        )
        return dataclasses.replace(obs, mco_image=image)
