"""kopf handlers: thin. Index what we watch, notice changes, wake the level-triggered loops.

kopf fills every index before it calls any handler, so the first pass sees every pool.
Nodes come from `informer.NodeInformer` (see there why not kopf). No handler here stores
state on the watched objects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from mosb_controller.config import Settings
from mosb_controller.informer import NodeInformer
from mosb_controller.kube import GROUP, VERSION, Kube, load_api_client
from mosb_controller.recorder import (
    MANAGED_LABELS,
    ArchitectureRecorder,
    Observed,
    PoolView,
    pool_view,
)

log = logging.getLogger(__name__)
POOLS = (GROUP, VERSION, "machineconfigpools")


def configure(settings: Settings) -> None:
    """Set before kopf starts: the handlers read it from here."""
    global _settings
    _settings = settings


_settings = Settings()


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own, meaningful events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.connect_timeout = 10
    settings.watching.chunk_size = 500  # list large clusters in pages: a lower memory peak
    memo.settings = _settings
    memo.kube = Kube(load_api_client())
    memo.recorder = recorder = ArchitectureRecorder(memo.kube, _settings)
    memo.informer = NodeInformer(memo.kube.client, recorder.node_changed, recorder.nodes_listed)
    memo.informer.start(asyncio.get_running_loop())


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.informer.stop()
    await memo.recorder.stop()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


# -- indexes ---------------------------------------------------------------------------
@kopf.index(*POOLS)
def pool_index(name: str, body: kopf.Body, **_: Any) -> dict[str, PoolView]:
    return {name: pool_view(body)}


@kopf.index("configmaps", labels=MANAGED_LABELS)
def configmap_index(name: str, body: kopf.Body, **_: Any) -> dict[str, Observed]:
    version = str(body.get("metadata", {}).get("resourceVersion", ""))
    return {name: Observed(version, dict(body.get("data") or {}))}


def _recorder(memo: kopf.Memo, **indexes: Any) -> ArchitectureRecorder:
    recorder: ArchitectureRecorder = memo.recorder
    recorder.observe(indexes["pool_index"], indexes["configmap_index"])
    return recorder


def _only(store: Any) -> Any:
    return next(iter(store), None) if store is not None else None


# -- events: notice, compare, wake -----------------------------------------------------
@kopf.on.event(*POOLS)
async def on_pool(name: str, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    view = None if type == "DELETED" else _only(kwargs["pool_index"].get(name))
    _recorder(memo, **kwargs).pool_changed(name, view)


@kopf.on.event("configmaps", labels=MANAGED_LABELS)
async def on_configmap(memo: kopf.Memo, **kwargs: Any) -> None:
    _recorder(memo, **kwargs).wake()
