"""Faults on the local cluster: the operator killed at every step of a build, the API
server restarted mid-build, two replicas at once, edits while a build runs, and no
credential anywhere a person or another tenant could read it.

Steps are reached from outside: the node harness holds pods, and the operator is frozen
(SIGSTOP) the moment the API shows the state wanted, then killed (SIGKILL) there and
started again. The operator has no test-only code path."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import kubernetes
import pytest

from hack import controlplane
from hack.localcluster import NAMESPACE, LocalCluster
from hack.operatorproc import OperatorProcess
from hack.registry import missing_tools
from tests.support.e2e import condition, entries, mosbs, succeeded, wait
from tests.support.polling import require

THREE = ("amd64", "arm64", "s390x")
GROUP = "machineconfiguration.openshift.io"
MOSCS = {"crash", "restart", "pair", "edit", "shrink", "lacking", "empty", "inject"}


@pytest.fixture(scope="module")
def local(cluster: controlplane.ControlPlane) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    made = LocalCluster(cluster).start(["--build-backoff-limit=0"])
    yield made
    # Leave the session's cluster to the next module as found: no MOSC or MOSB of ours
    # (their Jobs and ConfigMaps go with the MOSBs, by owner).
    for plural in ("machineosconfigs", "machineosbuilds"):
        listed = cast(dict[str, Any], made.custom.list_cluster_custom_object(GROUP, "v1", plural))
        for item in listed["items"]:
            name = item["metadata"]["name"]
            if name.split("-")[0] in MOSCS:
                with contextlib.suppress(kubernetes.client.ApiException):  # gone already
                    made.custom.delete_cluster_custom_object(GROUP, "v1", plural, name)
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}")


def operator(local: LocalCluster) -> OperatorProcess:
    assert local.operator is not None
    return local.operator


def restart(op: OperatorProcess) -> None:
    op.stop(signal.SIGKILL)
    op.start()


def audited(plane: controlplane.ControlPlane, resource: str, prefix: str) -> list[dict[str, Any]]:
    """The operator's successful creates of `resource` named `prefix`…, from the audit log."""
    events = [json.loads(line) for line in plane.audit_log.read_text().splitlines()]
    return [
        e for e in events
        if e.get("verb") == "create" and e.get("responseStatus", {}).get("code") == 201
        and (e.get("objectRef") or {}).get("resource") == resource
        and (e.get("objectRef") or {}).get("name", "").startswith(prefix)
    ]  # fmt: skip


def jobs(local: LocalCluster, mosc: str) -> dict[str, dict[str, Any]]:
    """Our Jobs of `mosc`, by name."""
    found = {}
    for job in local.batch.list_namespaced_job(NAMESPACE).items:
        data = local.client.sanitize_for_serialization(job)
        if data["metadata"]["name"].startswith(f"{mosc}-"):
            found[data["metadata"]["name"]] = data
    return found


def done(job: dict[str, Any]) -> bool:
    return bool((job.get("status") or {}).get("succeeded"))


def the_mosb(local: LocalCluster, mosc: str) -> dict[str, Any]:
    return wait(lambda: next(iter(mosbs(local, mosc)), None), what=f"a MOSB of {mosc}")  # type: ignore[no-any-return]


def held_build(local: LocalCluster, mosc: str) -> tuple[str, str]:
    """A pool of THREE architectures and its MOSC, built until the three build pods run,
    held there: (the MOSB's name, the hold pattern to discard to let them finish)."""
    harness = local.harness
    assert harness is not None
    local.add_pool(mosc, THREE)
    hold = rf"{mosc}-[0-9a-f]+-"
    harness.hold.add(hold)
    local.apply_mosc(mosc, entries())
    name = the_mosb(local, mosc)["metadata"]["name"]
    wait(lambda: len(harness.running(f"{name}-")) == 3, 240, "three builds running")
    return name, hold


def kill_when(local: LocalCluster, what: str, reached: Callable[[], Any], log: list[str]) -> None:
    """Freeze the operator once `reached()`, note what exists, kill it, start it again."""
    op = operator(local)
    wait(reached, 240, what)
    op.freeze()
    log.append(what)
    restart(op)


def kill_on_first(
    local: LocalCluster,
    what: str,
    list_call: Callable[..., Any],
    args: tuple[Any, ...],
    prefix: str,
    log: list[str],
) -> None:
    """Like kill_when, but the freeze follows a watch event of the first object named
    `prefix`…: within milliseconds of its creation, before the pass goes on."""
    watch = kubernetes.watch.Watch()
    for event in watch.stream(list_call, *args, timeout_seconds=240):
        name = local.client.sanitize_for_serialization(event["object"])["metadata"]["name"]
        if event["type"] == "ADDED" and name.startswith(prefix):
            watch.stop()
            break
    else:
        raise AssertionError(f"{what}: not seen")
    operator(local).freeze()
    log.append(f"{what} ({len(jobs(local, prefix.rstrip('-')))} Jobs at the kill)")
    restart(operator(local))


def assert_converged(local: LocalCluster, mosc: str, arches: tuple[str, ...]) -> dict[str, Any]:
    """Succeeded, published, each Job created once, and nothing left that no MOSB owns."""
    mosb = succeeded(local, mosc)
    name = mosb["metadata"]["name"]
    assert [m["metadata"]["name"] for m in mosbs(local, mosc)] == [name]
    # No status lost: every architecture's record and the build's times are there.
    records = json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-builds"])
    assert {a: r["phase"] for a, r in records.items()} == dict.fromkeys(arches, "Succeeded")
    assert mosb["status"]["buildStart"] and mosb["status"]["buildEnd"]
    published = mosb["status"]["digestedImagePushSpec"]

    def mosc_published() -> bool:
        status = local.get("machineosconfigs", mosc).get("status") or {}
        return bool(status.get("currentImagePullSpec") == published)

    wait(mosc_published, what="MOSC status")
    created = sorted(e["objectRef"]["name"] for e in audited(local.plane, "jobs", f"{mosc}-"))
    assert len(created) == len(arches) + 1, created  # one per architecture and the push
    assert len(set(created)) == len(created), created
    assert len(audited(local.plane, "machineosbuilds", f"{mosc}-")) == 1
    for job in jobs(local, mosc).values():
        owners = {o["uid"] for o in job["metadata"].get("ownerReferences") or []}
        assert owners == {mosb["metadata"]["uid"]}, job["metadata"]["name"]
    return mosb


def test_operator_killed_at_every_step_converges(local: LocalCluster) -> None:
    harness = local.harness
    assert harness is not None
    local.add_pool("crash", THREE)
    builds, push = r"crash-[0-9a-f]+-(amd64|arm64|s390x)-", r"crash-[0-9a-f]+-push-"
    harness.hold.update({builds, push})
    steps: list[str] = []
    op = operator(local)

    local.apply_mosc("crash", entries())
    kill_on_first(
        local,
        "MOSB created",
        local.custom.list_cluster_custom_object,
        ("machineconfiguration.openshift.io", "v1", "machineosbuilds"),
        "crash-",
        steps,
    )
    kill_on_first(local, "k of 3 build Jobs exist", local.batch.list_namespaced_job,
                  (NAMESPACE,), "crash-", steps)  # fmt: skip
    kill_when(local, "builds running", lambda: len(harness.running("crash-")) == 3, steps)
    op.freeze()  # builds finish while the operator is stopped: it never saw them end
    harness.hold.discard(builds)
    kill_when(local, "builds done, no push Job",
              lambda: sum(done(j) for j in jobs(local, "crash").values()) == 3, steps)  # fmt: skip
    assert not any(n.endswith("-push") for n in jobs(local, "crash")), steps
    kill_when(local, "push running", lambda: len(harness.running("crash-")) == 1, steps)
    op.freeze()
    harness.hold.discard(push)
    kill_when(local, "push done, MOSC status not written",
              lambda: sum(done(j) for j in jobs(local, "crash").values()) == 4, steps)  # fmt: skip
    assert not (local.get("machineosconfigs", "crash").get("status") or {}).get(
        "currentImagePullSpec"
    )
    mosb = assert_converged(local, "crash", THREE)
    assert sorted(local.platforms(mosb["status"]["digestedImagePushSpec"])) != []
    print("killed at:", "; ".join(steps))


def test_two_replicas_one_leader_then_takeover(local: LocalCluster) -> None:
    harness, first = local.harness, operator(local)
    assert harness is not None
    second = OperatorProcess(
        first.kubeconfig, NAMESPACE, local.workdir / "operator-2.log", first.extra_args
    )
    second.start()
    try:
        _, hold = held_build(local, "pair")
        leader, follower = (first, second) if "leading as" in first.log_text() else (second, first)
        assert "leading as" not in follower.log_text()
        assert "creating Job" not in follower.log_text()
        leader.stop(signal.SIGKILL)  # the follower takes over mid-build
        harness.hold.discard(hold)
        assert_converged(local, "pair", THREE)
        assert "leading as" in follower.log_text()
    finally:
        local.operator = second if not first.alive() else first
        (first if local.operator is second else second).stop()


def test_mosc_edited_mid_build_supersedes_it(local: LocalCluster) -> None:
    """Defined outcome: the running build is replaced by one of the new inputs; the old
    MOSB and its Jobs are removed; the new one succeeds."""
    harness = local.harness
    assert harness is not None
    old, hold = held_build(local, "edit")
    local.apply_mosc("edit", entries("LABEL io.mosb.e2e.arm=edited"))
    harness.hold.discard(hold)
    new = succeeded(local, "edit", other_than=old)
    assert new["metadata"]["name"] != old
    wait(lambda: old not in [m["metadata"]["name"] for m in mosbs(local, "edit")], what="old gone")


def test_architecture_nodes_removed_mid_build_never_sticks(local: LocalCluster) -> None:
    """Defined outcome: the pool no longer has s390x, so a new MOSB for amd64+arm64
    replaces the running one (reusing nothing unfinished) and succeeds."""
    harness = local.harness
    assert harness is not None
    old, hold = held_build(local, "shrink")
    for node in local.core.list_node(label_selector="pool=shrink").items:
        assert node.metadata is not None and node.metadata.labels is not None
        if node.metadata.labels["kubernetes.io/arch"] == "s390x":
            local.core.delete_node(str(node.metadata.name))
    harness.hold.discard(hold)
    new = succeeded(local, "shrink", other_than=old)
    platforms = local.platforms(new["status"]["digestedImagePushSpec"])
    assert sorted(p for p, _ in platforms) == ["linux/amd64", "linux/arm64"]
    assert condition(new, "Succeeded") == "True"


def test_api_server_restart_mid_build_converges(local: LocalCluster) -> None:
    harness, op = local.harness, operator(local)
    assert harness is not None
    # Leases longer than the API server's absence: the leader must ride it out, not exit.
    op.stop()
    op.extra_args = [*op.extra_args, "--leader-election-lease-duration-seconds=40",
                     "--leader-election-renew-deadline-seconds=30"]  # fmt: skip
    op.start()
    _, hold = held_build(local, "restart")
    local.plane.stop_component("kube-apiserver", signal.SIGKILL)
    harness.hold.discard(hold)  # the builds end while the API server is away
    local.plane.start_apiserver()
    assert_converged(local, "restart", THREE)
    assert op.alive(), op.log_tail()


def warnings_of(local: LocalCluster, mosc: str) -> dict[str, str]:
    """reason → message of the Warning events on the MachineOSConfig `mosc`."""
    events = local.core.list_event_for_all_namespaces(
        field_selector=f"involvedObject.name={mosc},type=Warning"
    ).items
    return {str(e.reason): str(e.message) for e in events}


def test_bad_input_through_the_api_is_refused_readably_or_built_as_data(
    local: LocalCluster, tmp_path: Path
) -> None:
    """A few generated-style cases through the real API server and operator (the pure
    planner gets hundreds more in tests/unit/test_bad_input.py)."""
    # Containerfile entries only for architectures the pool lacks, and no NoArch entry.
    local.add_pool("lacking", ("amd64",))
    local.apply_mosc("lacking", [("S390X", "FROM configs\nLABEL a=b"), ("ARM64", "FROM configs")])
    # A pool selecting no node at all.
    local.add_pool("empty", ())
    local.apply_mosc("empty", entries())
    reasons = wait(lambda: (r := warnings_of(local, "lacking")) and warnings_of(local, "empty")
                   and (r, warnings_of(local, "empty")), what="refusals")  # fmt: skip
    lacking, empty = reasons
    assert "no containerFile entry for AMD64 and no NoArch entry" in lacking["NoContainerfile"]
    assert "selects no node" in empty["NoArchitectures"]
    assert not mosbs(local, "lacking") and not mosbs(local, "empty")

    # Shell and Containerfile-variable payloads in the content: built as literal text.
    marker = tmp_path / "pwned"
    payload = f"$(touch {marker}) `touch {marker}` ; touch {marker} \u00e9\u6f22 🙂"
    content = f'FROM configs AS final\nLABEL io.mosb.inject="{payload}"\n'
    content += "# " + "x" * 3000 + "\n"  # huge but legal (4096 at most)
    local.add_pool("inject", ("amd64", "arm64"))
    local.apply_mosc("inject", [("NoArch", content)])
    mosb = succeeded(local, "inject")
    arm64 = json.loads(mosb["metadata"]["annotations"]["mosb-controller.io/arch-digests"])["arm64"]
    repo = mosb["status"]["digestedImagePushSpec"].split("@")[0]
    labels = local.registry.inspect_config(f"{repo}@{arm64}")["config"]["Labels"]
    assert labels["io.mosb.inject"] == payload
    assert not marker.exists()
    assert operator(local).alive()


def test_credentials_appear_nowhere_readable(local: LocalCluster) -> None:
    """After the builds above: no log, event, status, annotation, Job, Pod or ConfigMap
    holds the registry password, in clear or base64."""
    password = local.registry.password
    secret = local.registry.dockerconfigjson()
    needles = {
        password,
        base64.b64encode(secret).decode(),
        base64.b64encode(f"{local.registry.username}:{password}".encode()).decode(),
    }
    haystacks: dict[str, str] = {}
    for path in local.workdir.glob("operator*.log"):
        haystacks[path.name] = path.read_text(errors="replace")
    client = local.client
    for kind, items in (
        ("events", local.core.list_event_for_all_namespaces().items),
        ("jobs", local.batch.list_namespaced_job(NAMESPACE).items),
        ("pods", local.core.list_namespaced_pod(NAMESPACE).items),
        ("configmaps", local.core.list_namespaced_config_map(NAMESPACE).items),
    ):
        haystacks[kind] = json.dumps(client.sanitize_for_serialization(items))
    for plural in ("machineosbuilds", "machineosconfigs", "machineconfigpools"):
        listed = local.custom.list_cluster_custom_object(
            "machineconfiguration.openshift.io", "v1", plural
        )
        haystacks[plural] = json.dumps(listed)
    assert len(haystacks["machineosbuilds"]) > 1000  # the builds above left their records
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a credential appears in {where}"
