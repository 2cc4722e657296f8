"""Which MachineOSConfigs an event wakes: a build's own objects wake only theirs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

import kopf

from api.names import (
    BUILD_OBJECT_LABEL,
    BUILD_UID_LABEL,
    MACHINE_OS_CONFIG_LABEL,
    MOSB_ANNOTATION,
    MOSC_ANNOTATION,
)
from mosb_controller.runtime import handlers
from mosb_controller.runtime.indexes import Indexes

INDEXES = ("mosc_index", "mosb_index", "mcp_index", "config_index", "job_index", "pod_index",
           "secret_index", "inputs_index", "copy_index", "trust_index")  # fmt: skip


class Loop:
    """What the handlers use of the build loop: its indexes and its queue."""

    def __init__(self, moscs: list[str]) -> None:
        self.indexes = Indexes()
        self.moscs = moscs
        self.woken: list[str] = []

    def enqueue(self, mosc: str) -> None:
        self.woken.append(mosc)

    def enqueue_all(self) -> None:
        self.woken += self.moscs


def _secret(name: str, labels: dict[str, str], annotations: dict[str, str]) -> kopf.Body:
    raw = {"metadata": {"name": name, "labels": labels, "annotations": annotations}, "type": "x"}
    return kopf.Body(cast(kopf.RawBody, raw))


def _woken_by(body: kopf.Body, handler: Any = handlers.on_secret, **kwargs: Any) -> list[str]:
    loop = Loop(["mosc-a", "mosc-b", "mosc-c"])
    memo = kopf.Memo(builds=loop)
    indexes: dict[str, Any] = {key: {} for key in INDEXES}
    # kopf's decorator types the handler as an object: it is the coroutine function.
    handled = cast(Coroutine[Any, Any, None], handler(body=body, memo=memo, **kwargs, **indexes))
    asyncio.run(handled)
    return loop.woken


def _mosb(spec: dict[str, Any], labels: dict[str, str]) -> kopf.Body:
    raw = {"metadata": {"name": "mosb-1", "labels": labels}, "spec": spec}
    return kopf.Body(cast(kopf.RawBody, raw))


def test_a_build_s_secret_copy_wakes_only_its_machineosconfig() -> None:
    copy = _secret(
        "mosc-b-0123-push-secret",
        {BUILD_OBJECT_LABEL: "true", BUILD_UID_LABEL: "uid-1"},
        {MOSC_ANNOTATION: "mosc-b", MOSB_ANNOTATION: "mosc-b-0123"},
    )
    assert _woken_by(copy) == ["mosc-b"]


def test_an_admin_s_secret_wakes_every_machineosconfig() -> None:
    # Any MOSC may name it (push, pull), or it is the global pull secret.
    assert _woken_by(_secret("push", {}, {})) == ["mosc-a", "mosc-b", "mosc-c"]


def test_a_machineosbuild_wakes_the_machineosconfig_its_spec_names() -> None:
    mosb = _mosb({"machineOSConfig": {"name": "mosc-b"}}, {MACHINE_OS_CONFIG_LABEL: "mosc-c"})
    assert _woken_by(mosb, handlers.on_mosb, type="MODIFIED") == ["mosc-b"]


def test_a_machineosbuild_without_that_field_wakes_the_one_its_label_names() -> None:
    mosb = _mosb({}, {MACHINE_OS_CONFIG_LABEL: "mosc-c"})
    assert _woken_by(mosb, handlers.on_mosb, type="MODIFIED") == ["mosc-c"]
