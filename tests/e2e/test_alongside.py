"""alongside-mco end to end on the local cluster, as on OpenShift beside the MCO: an
upstream-group MachineOSConfig exists for the same pool (the MCO's own builder would act
on it), ours lives in our group, and the operator publishes through one MachineConfig.
The operator runs under the OpenShift overlay's RBAC; the audit log shows what it did.

The scenarios run in order on one pool: publish, no loop, upgrade (with the operator
killed while the pool is held), failed upgrade, MOSC deleted.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiException

from api import (
    GROUP,
    MACHINE_CONFIG_ROLE_LABEL,
    PAUSED_BY_US_ANNOTATION,
    Mode,
    published_config_name,
)
from hack import bases, controlplane, rbacaudit
from hack.localcluster import BASE_REPO, LocalCluster
from hack.operatoridentity import ALONGSIDE_RBAC
from hack.registry import missing_tools, seed_base_image
from tests.support.e2e import condition, entries, mosbs, succeeded, wait
from tests.support.polling import require

POOL = "e2e-along"
ARCHES = ("amd64", "arm64")
CONFIG = published_config_name(POOL)
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


AUDIT_START: list[int] = []  # the audit log's length when this module's operator started


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)  # entries() has RUN steps
    AUDIT_START.append(rbacaudit.lines(cluster.audit_log))
    made = LocalCluster(cluster).start(["--build-backoff-limit=0"], mode=Mode.ALONGSIDE_MCO)
    yield made
    made.stop()
    try:  # the admin's upstream MOSC: a builder-mode operator of a later module would build it
        made.custom.delete_cluster_custom_object(GROUP, "v1", "machineosconfigs", POOL)
    except ApiException as exc:
        if exc.status != 404:
            raise
    print(f"operator log: {made.workdir / 'operator.log'}")


def upstream_writes(local: LocalCluster, since: int) -> set[tuple[str, str]]:
    """(resource, verb) of the operator's writes in machineconfiguration.openshift.io."""
    made = rbacaudit.requests(local.plane.audit_log, since)
    return {(r.resource, r.verb) for r in made if r.group == GROUP and r.verb in WRITES}


def published(local: LocalCluster, image: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        try:
            config = local.get("machineconfigs", CONFIG)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return config if config["spec"].get("osImageURL") == image else None

    result: dict[str, Any] = wait(shown, what=f"MachineConfig {CONFIG} with {image}")
    return result


def pool(local: LocalCluster) -> dict[str, Any]:
    return local.get("machineconfigpools", POOL)


def held(local: LocalCluster) -> bool:
    p = pool(local)
    return bool(p["spec"].get("paused")) and PAUSED_BY_US_ANNOTATION in p["metadata"].get(
        "annotations", {}
    )


def released(local: LocalCluster) -> bool:
    p = pool(local)
    return not p["spec"].get("paused") and PAUSED_BY_US_ANNOTATION not in p["metadata"].get(
        "annotations", {}
    )


def settle(local: LocalCluster) -> None:
    """Wait until the operator processed every earlier change of our MOSC: a retry request
    is served (removed) only by a pass after them (see test_main_job)."""
    local.custom.patch_cluster_custom_object(
        local.group("machineosconfigs"), "v1", "machineosconfigs", POOL,
        {"metadata": {"annotations": {"mosb-controller.io/retry-failed": ""}}},
    )  # fmt: skip

    def served() -> bool:
        annotations = local.get("machineosconfigs", POOL)["metadata"].get("annotations") or {}
        return "mosb-controller.io/retry-failed" not in annotations

    wait(served)


def test_1_publishes_through_a_machineconfig_and_leaves_upstreams_group_alone(
    local: LocalCluster,
) -> None:
    since = rbacaudit.lines(local.plane.audit_log)
    local.add_pool(POOL, ARCHES)
    upstream = local.mosc_body(POOL, entries())  # the MCO's own builder would act on this
    local.custom.create_cluster_custom_object(
        GROUP, "v1", "machineosconfigs",
        {"apiVersion": f"{GROUP}/v1", "kind": "MachineOSConfig", **upstream},
    )  # fmt: skip
    before: Any = local.custom.get_cluster_custom_object(GROUP, "v1", "machineosconfigs", POOL)
    local.apply_mosc(POOL, entries())
    mosb = succeeded(local, POOL)
    spec = mosb["status"]["digestedImagePushSpec"]
    assert len(mosb["status"]["relatedObjects"]) == len(ARCHES) + 1  # N Jobs, then the list
    config = published(local, spec)
    assert config["metadata"]["labels"][MACHINE_CONFIG_ROLE_LABEL] == POOL
    for arch in ARCHES:  # each node's architecture resolves to its own image
        platform, digest = local.resolved(spec, arch)
        assert platform == f"linux/{arch}"
        assert dict(local.platforms(spec))[platform] == digest
    after: Any = local.custom.get_cluster_custom_object(GROUP, "v1", "machineosconfigs", POOL)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert upstream_writes(local, since) <= {
        ("machineconfigpools", "patch"),  # the architecture annotation
        ("machineconfigs", "create"),  # ours
    }


def test_2_no_loop_when_the_pool_renders_our_image(local: LocalCluster) -> None:
    (mosb,) = mosbs(local, POOL)
    spec = mosb["status"]["digestedImagePushSpec"]
    jobs_before = len(local.batch.list_namespaced_job("mosb-controller").items)
    since = rbacaudit.lines(local.plane.audit_log)
    rendered = f"rendered-{POOL}-2"  # as the MCO renders it: our osImageURL merged last
    local.create("machineconfigs", "MachineConfig", {
        "metadata": {"name": rendered}, "spec": {"osImageURL": spec}})  # fmt: skip
    local.custom.patch_cluster_custom_object(
        GROUP, "v1", "machineconfigpools", POOL, {"spec": {"configuration": {"name": rendered}}}
    )
    settle(local)
    assert [m["metadata"]["name"] for m in mosbs(local, POOL)] == [mosb["metadata"]["name"]]
    assert len(local.batch.list_namespaced_job("mosb-controller").items) <= jobs_before
    assert upstream_writes(local, since) == set()


def test_3_upgrade_holds_the_pool_rebuilds_and_survives_a_crash(local: LocalCluster) -> None:
    operator = local.operator
    assert operator is not None
    (old,) = mosbs(local, POOL)
    new_base = seed_base_image(local.registry, BASE_REPO, ARCHES, tag="next", content="4.100")
    local.set_release_base(new_base)
    wait(lambda: held(local), what="the pool paused with our reason")
    operator.stop(signal.SIGKILL)  # killed while the pool is held: the reason stays
    assert held(local)
    operator.start()
    mosb = succeeded(local, POOL, other_than=old["metadata"]["name"])
    records = json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-builds"])
    assert {r["phase"] for r in records.values()} == {"Succeeded"}  # all rebuilt, none reused
    config = published(local, mosb["status"]["digestedImagePushSpec"])
    assert config["metadata"]["annotations"]["mosb-controller.io/base-image"] == new_base
    wait(lambda: released(local), what="the pool unpaused after publishing")


def test_3b_a_failed_upgrade_releases_the_pool_and_keeps_the_image(local: LocalCluster) -> None:
    before = local.get("machineconfigs", CONFIG)["spec"]["osImageURL"]
    local.set_release_base(f"{local.registry.host}/{BASE_REPO}@sha256:{'0' * 64}")  # absent

    def failed() -> bool:
        return any(condition(m, "Failed") == "True" for m in mosbs(local, POOL))

    wait(failed, 240, "the upgrade's build failed")
    wait(lambda: released(local), what="the pool unpaused after the failure")
    # The admin retries: the failed build is recreated, holds the pool again, fails again.
    (failed_uid,) = [
        m["metadata"]["uid"] for m in mosbs(local, POOL) if condition(m, "Failed") == "True"
    ]
    settle(local)

    def failed_again() -> bool:
        return any(
            condition(m, "Failed") == "True" and m["metadata"]["uid"] != failed_uid
            for m in mosbs(local, POOL)
        )

    wait(failed_again, 240, "the retried build failed")
    wait(lambda: released(local), what="the pool unpaused after the second failure")
    events = local.core.list_namespaced_event("default").items
    assert any(
        e.reason == "PoolReleasedBuildFailed"
        and e.type == "Warning"
        and e.involved_object.name == POOL
        for e in events
    )
    assert local.get("machineconfigs", CONFIG)["spec"]["osImageURL"] == before


def test_4_deleting_the_mosc_removes_our_machineconfig(local: LocalCluster) -> None:
    local.custom.delete_cluster_custom_object(
        local.group("machineosconfigs"), "v1", "machineosconfigs", POOL
    )

    def gone() -> bool:
        try:
            local.get("machineconfigs", CONFIG)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    wait(gone, what=f"MachineConfig {CONFIG} removed")
    wait(lambda: not mosbs(local, POOL), what="our MachineOSBuilds collected")

    def no_jobs() -> bool:
        jobs = local.batch.list_namespaced_job("mosb-controller").items
        names = [j.metadata.name or "" for j in jobs if j.metadata is not None]
        return not [n for n in names if n.startswith(f"{POOL}-")]

    wait(no_jobs, what="our Jobs collected")
    wait(lambda: released(local), what="the pool not held")
    # the admin's upstream MachineOSConfig is still there, untouched
    assert local.custom.get_cluster_custom_object(GROUP, "v1", "machineosconfigs", POOL)


def test_5_the_modes_rbac_is_exactly_what_it_used(local: LocalCluster) -> None:
    """This module's requests (every alongside-mco scenario above): nothing refused, and
    every grant of the mode's own RBAC (the OpenShift overlay's ClusterRole and the Role
    on the osimageurl ConfigMap) used; the namespaced Role is builder mode's, checked by
    test_operate over the whole session."""
    made = rbacaudit.requests(local.plane.audit_log, AUDIT_START[0])
    refused = rbacaudit.refused(made, rbacaudit.grants(mode=Mode.ALONGSIDE_MCO))
    assert not refused, f"refused: {sorted(map(str, refused))}"
    unused = rbacaudit.unused(rbacaudit.grants_in(ALONGSIDE_RBAC), made)
    assert not unused, f"granted but never used: {sorted(map(str, unused))}"
