"""Pure tests of planning: identity, reuse, per-architecture Jobs, status, requests."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import api.names as names
from api import (
    ARCH_BUILDS_ANNOTATION,
    REBUILD_ANNOTATION,
    RETRY_FAILED_ANNOTATION,
    ArchBuildPhase,
    MachineOSBuildStatus,
    decode_arch_builds,
)
from api.names import FORCED_REBUILD_ANNOTATION
from mosb_controller import arch
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.arch_state import MESSAGE_LIMIT, excerpt
from mosb_controller.planning.inputs import BuildInputs, build_inputs
from mosb_controller.planning.observed import (
    ImageCheck,
    MosbView,
    Observed,
    RegistryAnswer,
    mosb_view,
)
from mosb_controller.planning.plan import Plan, plan_mosc
from mosb_controller.settings import Settings
from tests.support.builds import (
    LIST_DIGEST,
    created,
    finish_builds,
    finished_status,
    job,
    pod,
    progress,
    started,
)
from tests.support.factories import (
    ARCHES,
    DIGEST,
    NOW,
    REPO,
    mosc,
    observed,
    summary,
)

CF_ARCH = {"amd64": "AMD64", "arm64": "ARM64", "ppc64le": "PPC64LE", "s390x": "S390X"}


def inputs_of(obs: Observed) -> BuildInputs:
    result = build_inputs(obs.mosc, obs.pool, obs.rendered, obs.pool_arches)
    assert isinstance(result, BuildInputs)
    return result


# -- identity ----------------------------------------------------------------------------
entry_lists = st.lists(
    st.tuples(
        st.sampled_from(["AMD64", "ARM64", "PPC64LE", "S390X", "NoArch"]),
        st.text(min_size=1, max_size=30),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda e: e[0],
).filter(lambda es: any(a == "NoArch" for a, _ in es))


@given(entry_lists, st.lists(st.sampled_from(ARCHES), min_size=1, max_size=12), st.randoms())
def test_any_permutation_gives_the_same_name_and_plan(
    entries: list[tuple[str, str]], node_arches: list[str], rnd: Any
) -> None:
    nodes = [
        arch.node_facts(
            {
                "metadata": {"name": f"n{i}", "labels": {arch.ARCH_LABEL: a}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
        for i, a in enumerate(node_arches)
    ]
    shuffled_entries, shuffled_nodes = list(entries), list(nodes)
    rnd.shuffle(shuffled_entries)
    rnd.shuffle(shuffled_nodes)
    plans = []
    for es, ns in ((entries, nodes), (shuffled_entries, shuffled_nodes)):
        pool_arches = arch.detect(ns, {"worker": {}}).pools["worker"]
        obs = observed(mosc=mosc(es), pool_arches=pool_arches)
        plans.append(plan_mosc(obs))
    assert plans[0].mosb_name == plans[1].mosb_name
    assert plans[0].image_checks == plans[1].image_checks
    assert plans[0].decisions == plans[1].decisions


@given(st.sampled_from(ARCHES), st.text(min_size=1, max_size=40))
def test_changing_one_architecture_changes_exactly_its_key(target: str, content: str) -> None:
    before = inputs_of(observed())
    after = inputs_of(observed(mosc=mosc([("NoArch", "RUN echo hi"), (CF_ARCH[target], content)])))
    changed = {a for a in ARCHES if before.arch_key(a) != after.arch_key(a)}
    expected = {target} if content != "RUN echo hi" else set()
    assert changed == expected
    assert (before.mosb_name() != after.mosb_name()) == bool(expected)


def test_an_entry_for_an_architecture_the_pool_lacks_changes_nothing() -> None:
    pool = summary(["amd64", "arm64"])
    before = plan_mosc(observed(pool_arches=pool))
    after = plan_mosc(
        observed(pool_arches=pool, mosc=mosc([("NoArch", "RUN echo hi"), ("S390X", "x")]))
    )
    assert before.mosb_name == after.mosb_name


def test_architecture_set_is_part_of_the_identity() -> None:
    two = plan_mosc(observed(pool_arches=summary(["amd64", "arm64"])))
    three = plan_mosc(observed(pool_arches=summary(["amd64", "arm64", "s390x"])))
    assert two.mosb_name != three.mosb_name


# -- creation and reuse ------------------------------------------------------------------
def test_new_mosb_asks_the_registry_first_then_builds_everything() -> None:
    first = plan_mosc(observed())
    assert first.create_mosb is None
    assert len(first.image_checks) == 4  # each arch's own tag: nothing earlier to reuse
    plan, mosb = created(observed())
    assert {r.phase.value for r in mosb.records.values()} == {"Pending"}
    assert [d.action for d in plan.decisions] == ["build"] * 4
    meta = plan.create_mosb.to_k8s()["metadata"] if plan.create_mosb else {}
    assert meta["ownerReferences"][0]["uid"] == "uid-mosc"
    assert plan.mosc_annotations == {
        "machineconfiguration.openshift.io/current-machine-os-build": mosb.name
    }


def test_reuses_an_earlier_build_with_the_same_key_only_if_its_image_exists() -> None:
    old_obs = observed(mosc=mosc([("NoArch", "RUN old")]))
    _, old = created(old_obs)
    # the earlier MOSB built arm64 with the same arm64 content as the new one
    new_obs = observed(mosc=mosc([("NoArch", "RUN echo hi"), ("ARM64", "RUN arm")]))
    old_inputs = inputs_of(observed(mosc=mosc([("NoArch", "RUN old"), ("ARM64", "RUN arm")])))
    arm_key = inputs_of(new_obs).arch_key("arm64")
    assert arm_key == old_inputs.arch_key("arm64")
    record = old.records["amd64"].model_copy(
        update={
            "arch": "arm64",
            "key": arm_key,
            "phase": ArchBuildPhase.SUCCEEDED,
            "digest": DIGEST["arm64"],
            "image": f"{REPO}@{DIGEST['arm64']}",
        }
    )
    done = MachineOSBuildStatus.from_k8s(finished_status("Succeeded"))
    old = replace(old, name="worker-old", records={"arm64": record}, status=done)
    ref = f"{REPO}@{DIGEST['arm64']}"
    obs = replace(new_obs, mosbs={old.name: old})
    assert ref in plan_mosc(obs).image_checks
    exists = {ref: ImageCheck(RegistryAnswer.EXISTS, DIGEST["arm64"])}
    plan, mosb = created(replace(obs, images=exists))
    assert mosb.records["arm64"].phase.value == "Reused"
    assert mosb.records["arm64"].reused_from == "worker-old"
    assert [d.arch for d in plan.decisions if d.action == "reuse"] == ["arm64"]
    gone = {ref: ImageCheck(RegistryAnswer.ABSENT)}
    _, rebuilt = created(replace(obs, images=gone))
    assert rebuilt.records["arm64"].phase.value == "Pending"
    unknown = {ref: ImageCheck(RegistryAnswer.UNKNOWN, detail="connection refused")}
    _, unsure = created(replace(obs, images=unknown))
    assert unsure.records["arm64"].phase.value == "Pending"  # can't check: build


# -- Jobs ----------------------------------------------------------------------------------
def test_one_job_per_architecture_pinned_to_it() -> None:
    obs = observed()
    _, mosb = created(obs)
    plan = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    assert sorted(j["metadata"]["name"] for j in plan.create_jobs) == sorted(
        jobspec.build_job_name(mosb.name, a) for a in ARCHES
    )
    for spec in plan.create_jobs:
        a = spec["metadata"]["annotations"][names.ARCH_ANNOTATION]
        pod_spec = spec["spec"]["template"]["spec"]
        assert pod_spec["nodeSelector"][arch.ARCH_LABEL] == a
        assert {
            "key": arch.ARCH_LABEL,
            "operator": "Equal",
            "value": a,
            "effect": "NoSchedule",
        } in pod_spec["tolerations"]
        assert pod_spec["restartPolicy"] == "Never"
        assert spec["metadata"]["ownerReferences"][0]["uid"] == "uid-mosb"
        env = {e["name"]: e["value"] for e in pod_spec["containers"][0]["env"]}
        assert env["MOSB_TARGET_IMAGE"] == f"{REPO}:{mosb.name}-{a}"
    (configmap,) = plan.create_configmaps
    assert set(configmap["data"]) >= {f"Containerfile.{a}" for a in ARCHES} | {
        "build.sh",
        "push.sh",
    }


def test_admin_strings_stay_data() -> None:
    evil = "RUN echo $(touch /tmp/pwned)\n`rm -rf /`"
    obs = observed(mosc=mosc([("NoArch", evil)]))
    _, mosb = created(obs)
    plan = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    job_text = json.dumps(plan.create_jobs)
    assert "pwned" not in job_text and "rm -rf" not in job_text
    assert evil in plan.create_configmaps[0]["data"]["Containerfile.amd64"]
    for spec in plan.create_jobs:
        container = spec["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["/bin/bash", "/etc/mosb/scripts/build.sh"]


def test_env_values_are_escaped_for_the_kubelet() -> None:
    inputs = replace(inputs_of(observed()), repository="registry.example.com/a$(HOME)")
    spec = jobspec.build_job(inputs, "m", "uid", "amd64", Settings())
    env = {e["name"]: e["value"] for e in spec["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MOSB_TARGET_IMAGE"] == "registry.example.com/a$$(HOME):m-amd64"


def test_no_buildable_node_waits_with_a_message_then_fails() -> None:
    obs = observed(buildable={"amd64": 1, "arm64": 1, "ppc64le": 1, "s390x": 0})
    _, mosb = created(obs)
    plan = progress(obs, mosb, {}, {})
    assert all("s390x" not in j["metadata"]["name"] for j in plan.create_jobs)
    records = decode_arch_builds(plan.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    assert records["s390x"].phase.value == "Waiting"
    assert "s390x" in plan.mosb_status[mosb.name].to_k8s()["conditions"][0]["message"]
    waited = replace(mosb, records=records)
    later = replace(obs, now=NOW + dt.timedelta(seconds=Settings().no_node_timeout_seconds + 1))
    failed = progress(later, waited, {}, {})
    conditions = {c["type"]: c for c in failed.mosb_status[mosb.name].to_k8s()["conditions"]}
    assert conditions["Failed"]["status"] == "True"
    assert (
        "s390x" in conditions["Failed"]["message"]
        and "NoBuildableNode" in conditions["Failed"]["message"]
    )


def conditions_of(plan: Plan, mosb: MosbView) -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in plan.mosb_status[mosb.name].to_k8s()["conditions"]}


def test_failure_names_the_architecture_the_job_and_the_cause() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    arm = jobspec.build_job_name(mosb.name, "arm64")
    jobs[arm] = job(arm, failed=True)
    pods = {
        arm: [
            pod(
                arm,
                phase="Failed",
                exit_code=1,
                message="error: a step of the Containerfile failed\nRUN make: exit 2",
            )
        ]
    }
    plan = progress(obs, mosb, jobs, pods)
    failed = conditions_of(plan, mosb)["Failed"]
    assert failed["status"] == "True"
    assert (
        "arm64" in failed["message"]
        and arm in failed["message"]
        and "RUN make: exit 2" in failed["message"]
    )
    assert plan.pool_condition is not None and plan.pool_condition.to_k8s()["status"] == "True"
    assert plan.pool_condition.to_k8s()["reason"] == "BuildFailed"
    assert any(e.reason == "ArchBuildFailed" and "arm64" in e.message for e in plan.events)


def test_job_deleted_interrupts_but_pod_deleted_does_not() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    seen = progress(obs, mosb, jobs, {})  # a pass that observes the Jobs
    mosb = replace(
        mosb, records=decode_arch_builds(seen.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    )
    amd = jobspec.build_job_name(mosb.name, "amd64")
    without_pods = progress(obs, mosb, jobs, {})  # a deleted pod: the Job makes another
    assert conditions_of(without_pods, mosb)["Interrupted"]["status"] == "False"
    del jobs[amd]
    interrupted = progress(obs, mosb, jobs, {})
    assert conditions_of(interrupted, mosb)["Interrupted"]["status"] == "True"
    assert "amd64" in conditions_of(interrupted, mosb)["Interrupted"]["message"]


def test_a_job_not_yet_seen_is_neither_recreated_nor_interrupted_unless_deleted() -> None:
    obs = observed()
    mosb, jobs = started(obs)  # records name the Jobs just created; no pass saw them yet
    amd = jobspec.build_job_name(mosb.name, "amd64")
    del jobs[amd]
    lagging = progress(obs, mosb, jobs, {})
    assert amd not in [j["metadata"]["name"] for j in lagging.create_jobs]
    assert conditions_of(lagging, mosb)["Interrupted"]["status"] == "False"
    deleted = progress(replace(obs, deleted_jobs=frozenset({(amd, mosb.uid)})), mosb, jobs, {})
    assert conditions_of(deleted, mosb)["Interrupted"]["status"] == "True"


def test_all_built_then_push_then_published() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    mosb, pods = finish_builds(obs, mosb, jobs)
    assert {r.phase.value for r in mosb.records.values()} == {"Succeeded"}
    plan = progress(obs, mosb, jobs, pods)
    (push,) = plan.create_jobs
    env = {e["name"]: e["value"] for e in push["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MOSB_ARCH_IMAGES"].splitlines() == [f"{a} {REPO}@{DIGEST[a]}" for a in ARCHES]
    push_name = jobspec.push_job_name(mosb.name)
    jobs[push_name] = job(push_name, complete=True, role="push")
    pods[push_name] = [pod(push_name, phase="Succeeded", exit_code=0, message=LIST_DIGEST)]
    done = progress(obs, mosb, jobs, pods)
    status = done.mosb_status[mosb.name].to_k8s()
    assert conditions_of(done, mosb)["Succeeded"]["status"] == "True"
    assert status["digestedImagePushSpec"] == f"{REPO}@{LIST_DIGEST}"
    assert status["buildEnd"] > status["buildStart"]
    assert done.mosc_status is not None
    assert done.mosc_status.to_k8s() == {
        "observedGeneration": 3,
        "currentImagePullSpec": f"{REPO}@{LIST_DIGEST}",
        "machineOSBuild": {
            "group": "machineconfiguration.openshift.io",
            "resource": "machineosbuilds",
            "name": mosb.name,
        },
    }
    assert sorted(done.delete_jobs) == sorted(jobs)
    assert done.delete_configmaps == [jobspec.inputs_configmap_name(mosb.name)]


def test_homogeneous_pool_builds_one_plain_image_without_push() -> None:
    obs = observed(pool_arches=summary(["amd64"]))
    mosb, jobs = started(obs)
    (only,) = jobs
    spec = jobspec.build_job(inputs_of(obs), mosb.name, "uid", "amd64", obs.settings)
    assert spec["metadata"]["name"] == only
    container = spec["spec"]["template"]["spec"]["containers"][0]
    target = {e["name"]: e["value"] for e in container["env"]}["MOSB_TARGET_IMAGE"]
    assert target == f"{REPO}:{mosb.name}"  # the MOSB tag itself: a plain image
    mosb, pods = finish_builds(obs, mosb, jobs)
    plan = progress(obs, mosb, jobs, pods)
    assert not plan.create_jobs
    assert (
        plan.mosb_status[mosb.name].to_k8s()["digestedImagePushSpec"] == f"{REPO}@{DIGEST['amd64']}"
    )


# -- requests ------------------------------------------------------------------------------
def test_rebuild_recreates_the_mosb_without_reuse_and_is_cleared_when_done() -> None:
    obs = observed()
    _, mosb = created(obs)
    asked = replace(obs, mosc=mosc(annotations={REBUILD_ANNOTATION: ""}), mosbs={mosb.name: mosb})
    assert plan_mosc(asked).delete_mosbs == [mosb.name]
    gone = replace(asked, mosbs={})
    fresh_plan = plan_mosc(gone)
    assert fresh_plan.image_checks == []  # no reuse: nothing to ask
    assert fresh_plan.create_mosb is not None
    assert (
        fresh_plan.create_mosb.to_k8s()["metadata"]["annotations"][FORCED_REBUILD_ANNOTATION]
        == "true"
    )
    body = fresh_plan.create_mosb.to_k8s()
    body["metadata"]["uid"] = "u2"
    body["status"] = finished_status("Succeeded")
    served = plan_mosc(replace(gone, mosbs={mosb.name: mosb_view(body)}))
    assert served.mosb_annotations[mosb.name][FORCED_REBUILD_ANNOTATION] is None
    assert served.mosc_annotations[REBUILD_ANNOTATION] is None


def test_retry_failed_recreates_and_is_cleared_once_the_new_build_runs() -> None:
    obs = observed(mosc=mosc(annotations={RETRY_FAILED_ANNOTATION: ""}))
    _, mosb = created(obs)
    failed = replace(mosb, status=MachineOSBuildStatus.from_k8s(finished_status("Failed")))
    assert plan_mosc(replace(obs, mosbs={mosb.name: failed})).delete_mosbs == [mosb.name]
    again = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    assert again.mosc_annotations[RETRY_FAILED_ANNOTATION] is None


def test_other_unfinished_builds_of_the_mosc_are_removed_first() -> None:
    obs = observed()
    _, mosb = created(observed(mosc=mosc([("NoArch", "RUN old")])))
    plan = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    assert plan.delete_mosbs == [mosb.name]
    assert plan.create_mosb is None  # waits until it is gone


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pool": None}, "PoolNotFound"),
        ({"rendered": None}, "RenderedConfigNotFound"),
        ({"pool_arches": summary([])}, "NoArchitectures"),
        ({"secrets": {}}, "PushSecretNotFound"),
        ({"secrets": {"push": "Opaque"}}, "PushSecretWrongType"),
        ({"mosc": mosc([("AMD64", "x")])}, "NoContainerfile"),
        ({"mosc": mosc(pull_secret="pull")}, "PullSecretNotFound"),  # noqa: S106
    ],
)
def test_refusals_say_why(change: dict[str, Any], reason: str) -> None:
    plan = plan_mosc(observed(**change))
    assert plan.refusal is not None and plan.refusal.reason == reason
    assert plan.create_mosb is None


@settings(max_examples=30)
@given(st.randoms())
def test_planning_twice_gives_the_same_plan(rnd: Any) -> None:
    obs = observed()
    mosb, jobs = started(obs)
    assert progress(obs, mosb, jobs, {}) == progress(obs, mosb, jobs, {})


def test_jobs_left_by_an_earlier_mosb_of_the_same_name_are_removed_not_used() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    arm = jobspec.build_job_name(mosb.name, "arm64")
    jobs[arm] = job(arm, failed=True, owner="uid-of-the-deleted-mosb")
    plan = progress(obs, mosb, jobs, {})
    assert plan.delete_jobs == [arm]
    assert not plan.mosb_status  # nothing concluded from someone else's Job


def test_a_pod_that_succeeded_decides_the_build_before_its_job_completes() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    amd = jobspec.build_job_name(mosb.name, "amd64")
    running = progress(obs, mosb, jobs, {amd: [pod(amd, phase="Running")]})
    records = decode_arch_builds(running.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    assert records["amd64"].phase is ArchBuildPhase.BUILDING
    mosb = replace(mosb, records=records)
    # The Job controller has not called the Job Complete yet: the pod's digest is the result.
    finished = [pod(amd, phase="Succeeded", exit_code=0, message=DIGEST["amd64"])]
    lagging = progress(obs, mosb, jobs, {amd: finished})
    done = decode_arch_builds(lagging.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    assert done["amd64"].phase is ArchBuildPhase.SUCCEEDED
    assert done["amd64"].digest == DIGEST["amd64"]
    # Without a digest the pod's success proves nothing yet: still building, no step back.
    silent = [pod(amd, phase="Succeeded", exit_code=0, message="")]
    waiting = progress(obs, mosb, jobs, {amd: silent})
    changed = waiting.mosb_annotations.get(mosb.name, {}).get(ARCH_BUILDS_ANNOTATION)
    phase = decode_arch_builds(changed)["amd64"].phase if changed else records["amd64"].phase
    assert phase is ArchBuildPhase.BUILDING
    assert not [e for e in waiting.events if e.reason == "ArchBuildPending"]


def test_a_pod_of_an_earlier_job_of_the_same_name_is_not_the_result() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    amd = jobspec.build_job_name(mosb.name, "amd64")
    stale = pod(amd, phase="Succeeded", exit_code=0, message=DIGEST["amd64"], job_uid="old")
    plan = progress(obs, mosb, jobs, {amd: [stale]})
    records = decode_arch_builds(plan.mosb_annotations[mosb.name][ARCH_BUILDS_ANNOTATION])
    assert records["amd64"].phase is ArchBuildPhase.PENDING
    assert records["amd64"].digest is None


def test_an_inputs_configmap_of_an_earlier_mosb_is_not_taken_for_ours() -> None:
    obs = observed()
    _, mosb = created(obs)
    name = jobspec.inputs_configmap_name(mosb.name)
    leftover = plan_mosc(replace(obs, mosbs={mosb.name: mosb}, configmaps={name: "old-uid"}))
    assert [c["metadata"]["name"] for c in leftover.create_configmaps] == [name]
    ours = plan_mosc(replace(obs, mosbs={mosb.name: mosb}, configmaps={name: mosb.uid}))
    assert not ours.create_configmaps


def test_a_recreated_mosb_waits_until_the_old_ones_jobs_are_gone() -> None:
    obs = observed()
    _, mosb = created(obs)
    old_job = jobspec.build_job_name(mosb.name, "arm64")
    leftover = replace(obs, jobs={old_job: job(old_job, owner="old-uid")})
    plan = plan_mosc(leftover)
    assert plan.create_mosb is None and plan.delete_jobs == [old_job]
    assert created(obs)[0].create_mosb is not None  # once gone, it is created


def test_a_long_failure_keeps_its_cause_and_its_last_lines() -> None:
    # The scripts' result: the cause first, then the failing command's last lines.
    output = "\n".join(f"buildah: step {i} output" for i in range(200))
    message = f"error: push of the linux/arm64 image to registry.example.com failed\n{output}"
    kept = excerpt(message)
    assert len(kept) <= MESSAGE_LIMIT
    assert kept.startswith("error: push of the linux/arm64 image to registry.example.com failed\n…")
    assert kept.endswith("buildah: step 199 output")
    assert "\n…buildah: step " in kept  # the tail starts on a whole line
    assert excerpt("error: short\nlast line") == "error: short\nlast line"
