"""Build-state gauges: what the alerts read, from the same plans the build loop applies."""

from __future__ import annotations

from dataclasses import replace

from api import MachineConfig, MachineConfigPool, MachineOSConfig
from mosb_controller import arch
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.observed import MosbView, Observed
from mosb_controller.planning.plan import plan_mosc
from mosb_controller.runtime.buildmetrics import build_state
from mosb_controller.runtime.metrics import Metrics
from tests.support.builds import (
    created,
    job,
    pod,
    progress,
    started,
    succeeded,
)
from tests.support.factories import POOL, RENDERED, observed, summary
from tests.support.metrics import samples

Key = tuple[str, tuple[tuple[str, str], ...]]


def labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


def phase_of(got: dict[Key, float], a: str) -> list[str]:
    return [
        dict(k[1])["phase"]
        for k, v in got.items()
        if k[0] == "mosb_arch_build_phase" and dict(k[1])["arch"] == a and v == 1
    ]


def published(obs: Observed, mosb: str) -> Observed:
    """The MOSC as it reads once `mosb` was published."""
    body = obs.mosc.to_k8s()
    body["status"] = {
        "currentImagePullSpec": "registry.example.com/ocl/worker@sha256:" + "e" * 64,
        "machineOSBuild": {
            "group": "machineconfiguration.openshift.io",
            "resource": "machineosbuilds",
            "name": mosb,
        },
    }
    return replace(obs, mosc=MachineOSConfig.from_k8s(body))


def with_config(name: str) -> MachineConfigPool:
    body = POOL.to_k8s()
    body["spec"]["configuration"] = {"name": name}
    return MachineConfigPool.from_k8s(body)


def test_a_failed_architecture_is_named_with_its_pool_and_running_ones_carry_their_start() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    arm = jobspec.build_job_name(mosb.name, "arm64")
    jobs[arm] = job(arm, failed=True)
    amd = jobspec.build_job_name(mosb.name, "amd64")
    pods = {
        arm: [pod(arm, phase="Failed", exit_code=1, message="RUN make: exit 2")],
        amd: [pod(amd, phase="Running")],
    }
    plan = progress(obs, mosb, jobs, pods)
    m = Metrics()
    m.builds.update("worker", build_state(replace(obs, mosbs={mosb.name: mosb}), plan))
    got = samples(m)
    assert phase_of(got, "arm64") == ["Failed"]
    assert phase_of(got, "amd64") == ["Building"]
    per_arch = [k for k in got if k[0] == "mosb_arch_build_phase" and dict(k[1])["arch"] == "amd64"]
    assert len(per_arch) == 7  # every phase, 0 or 1: `== 0` is a state too
    start = "mosb_arch_build_start_timestamp_seconds"
    since = mosb.records["amd64"].start
    assert since is not None
    assert got[(start, labels(mosc="worker", pool="worker", arch="amd64"))] == since.timestamp()
    assert (start, labels(mosc="worker", pool="worker", arch="arm64")) not in got  # it ended


def test_a_follower_or_a_mosc_that_goes_leaves_no_series() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    m = Metrics()
    m.builds.update("worker", build_state(obs, progress(obs, mosb, jobs, {})))
    assert any(k[0] == "mosb_arch_build_start_timestamp_seconds" for k in samples(m))
    m.builds.active = lambda: False  # this replica lost the lease: the leader says
    assert not [k for k in samples(m) if k[0].startswith("mosb_arch_build_start")]
    m.builds.active = lambda: True
    m.builds.forget("worker")
    assert not [k for k in samples(m) if k[0].startswith(("mosb_arch_build_", "mosb_published"))]


def outdated(m: Metrics) -> float | None:
    return samples(m).get(("mosb_published_image_outdated", labels(mosc="worker", pool="worker")))


def test_the_published_image_is_outdated_until_the_current_inputs_build_is_published() -> None:
    obs = observed()
    plan, mosb = created(obs)
    m = Metrics()
    m.builds.update("worker", build_state(obs, plan))
    assert outdated(m) == 1  # nothing published yet
    done = published(replace(obs, mosbs={mosb.name: mosb}), mosb.name)
    m.builds.update("worker", build_state(done, plan_mosc(done)))
    assert outdated(m) == 0
    # The pool moved to a new rendered config: the published build is of the old one.
    newer = replace(done, pool=with_config("rendered-worker-2"), rendered=rendered("2"))
    newer_plan = plan_mosc(newer)
    assert newer_plan.mosb_name != mosb.name
    m.builds.update("worker", build_state(newer, newer_plan))
    assert outdated(m) == 1


def test_the_pass_that_publishes_shows_the_image_current() -> None:
    obs = observed()
    done, _ = succeeded(obs)
    assert done.mosc_status is not None  # this pass publishes: not outdated one pass later
    assert build_state(obs, done).outdated is False
    assert all(a.start is None for a in build_state(obs, done).arches.values())


def rendered(n: str) -> MachineConfig:
    body = RENDERED.to_k8s()
    body["metadata"]["name"] = f"rendered-worker-{n}"
    return MachineConfig.from_k8s(body)


def test_under_a_refusal_the_rendered_config_of_the_published_build_decides() -> None:
    _, mosb = created(observed())
    built: MosbView = replace(mosb, rendered_config="rendered-worker-1")
    refused = published(observed(secrets={}, mosbs={built.name: built}), built.name)
    plan = plan_mosc(refused)
    assert plan.refusal is not None and plan.refusal.reason == "PushSecretNotFound"
    m = Metrics()
    m.builds.update("worker", build_state(refused, plan))
    assert outdated(m) == 0  # a missing secret doesn't make the published image old
    moved = replace(refused, pool=with_config("rendered-worker-2"))
    m.builds.update("worker", build_state(moved, plan_mosc(moved)))
    assert outdated(m) == 1
    # The published build has two architectures; the pool now has four (it gained nodes
    # while the operator refuses to plan): the image lacks some of the pool's.
    _, two = created(observed(pool_arches=summary(["amd64", "arm64"])))
    two = replace(two, rendered_config="rendered-worker-1")
    fewer = published(replace(refused, mosbs={two.name: two}), two.name)
    m.builds.update("worker", build_state(fewer, plan_mosc(fewer)))
    assert outdated(m) == 1
    gone = replace(moved, mosbs={})  # the published build was pruned: can't tell
    m.builds.update("worker", build_state(gone, plan_mosc(gone)))
    assert outdated(m) is None


def test_buildable_nodes_per_pool_architecture_count_cluster_wide_nodes() -> None:
    def node(name: str, a: str, pool: str, ready: bool) -> arch.NodeFacts:
        status = {"conditions": [{"type": "Ready", "status": str(ready)}]}
        labels = {"kubernetes.io/arch": a, "pool": pool}
        return arch.node_facts({"metadata": {"name": name, "labels": labels}, "status": status})

    nodes = [
        node("w-arm", "arm64", "worker", False),  # the pool's own arm64 node is NotReady
        node("i-arm", "arm64", "infra", True),  # but another pool's can build for it
        node("w-s390x", "s390x", "worker", False),
    ]
    record = arch.detect(nodes, {"worker": {"matchLabels": {"pool": "worker"}}})
    m = Metrics()
    m.watch_pools(lambda: record)
    got = samples(m)
    assert got[("mosb_pool_buildable_nodes", labels(pool="worker", arch="arm64"))] == 1
    assert got[("mosb_pool_buildable_nodes", labels(pool="worker", arch="s390x"))] == 0


def test_prune_refusals_count_per_mosc_and_reason() -> None:
    m = Metrics()
    m.prune_refused.labels("worker", "MethodNotAllowed").inc()
    key = ("mosb_prune_refused_total", labels(mosc="worker", reason="MethodNotAllowed"))
    assert samples(m)[key] == 1


def test_build_state_is_the_state_this_pass_writes() -> None:
    """A pass that moves a record on is what the gauges show, not the record it read."""
    obs = observed()
    _, mosb = created(obs)
    assert {r.phase.value for r in mosb.records.values()} == {"Pending"}
    first = progress(obs, mosb, {}, {})  # creates the Jobs: records name them, with a start
    state = build_state(replace(obs, mosbs={mosb.name: mosb}), first)
    assert all(a.start is not None for a in state.arches.values())
    assert state.arches["amd64"].start == obs.now
