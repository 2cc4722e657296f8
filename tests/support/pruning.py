"""What the pruning suites share: successive edits of one MachineOSConfig on the local
cluster, the repository's tags, and the events the pruner posts on the MOSC."""

from __future__ import annotations

from typing import Any

from kubernetes.client import ApiException

from hack.localcluster import LocalCluster
from tests.support.e2e import condition, wait

HEAD = "FROM configs AS final\nLABEL io.mosb.e2e.prune=yes"  # no RUN step: fast, no qemu


def edit(local: LocalCluster, mosc: str, amd: int, arm: int) -> str:
    """Set the MOSC so amd64 builds from version `amd` and arm64 from `arm`; wait until it
    publishes a new build, and return that MachineOSBuild's name."""
    before = published(local, mosc)
    apply(local, mosc, amd, arm)
    return published_after(local, mosc, before)


def apply(local: LocalCluster, mosc: str, amd: int, arm: int) -> None:
    local.apply_mosc(mosc, [
        ("NoArch", f"{HEAD}\nLABEL io.mosb.e2e.amd=v{amd}"),
        ("ARM64", f"{HEAD}\nLABEL io.mosb.e2e.arm=v{arm}"),
    ])  # fmt: skip


def published_after(local: LocalCluster, mosc: str, before: str | None) -> str:
    """Wait until the MOSC publishes a build other than `before`; its name."""

    def new() -> str | None:
        name = published(local, mosc)
        if name is None or name == before:
            return None
        mosb = local.get("machineosbuilds", name)
        if condition(mosb, "Failed") == "True":
            raise AssertionError(mosb["status"])
        return name

    return str(wait(new, 240, f"a new published build of {mosc}"))


def published(local: LocalCluster, mosc: str) -> str | None:
    try:
        status = local.get("machineosconfigs", mosc).get("status") or {}
    except ApiException as exc:
        if exc.status == 404:  # not created yet
            return None
        raise
    name = (status.get("machineOSBuild") or {}).get("name")
    return str(name) if name else None


def tags(local: LocalCluster, mosc: str) -> set[str]:
    return set(local.registry.tags(f"ocl/{mosc}"))


def events(local: LocalCluster, mosc: str, reason: str) -> list[dict[str, Any]]:
    """The pruner's events of `reason` on the MachineOSConfig (in "default": it is
    cluster-scoped)."""
    selector = f"involvedObject.name={mosc},reason={reason}"
    listed = local.core.list_namespaced_event("default", field_selector=selector)
    return [local.client.sanitize_for_serialization(e) for e in listed.items]
