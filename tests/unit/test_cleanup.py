"""What a build leaves to delete: after success in one request per kind (by the MOSB uid
label its objects carry), one by one for objects made before the label; leftovers of an
earlier MOSB of the same name hold the new one back."""

from __future__ import annotations

from dataclasses import replace

from api.names import BUILD_UID_LABEL
from mosb_controller.planning import buildsecrets, cleanup
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.plan import plan_mosc
from tests.support.builds import created, job, started
from tests.support.factories import ARCHES, observed

COPY_TYPE = "kubernetes.io/dockerconfigjson"


def test_every_object_a_build_makes_carries_its_mosb_uid() -> None:
    obs = observed()
    _, mosb = created(obs)
    plan = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))  # no Job, ConfigMap, copy yet
    made = [*plan.create_jobs, *plan.create_configmaps]
    made += [buildsecrets.copy_body(c, {}, obs.settings) for c in plan.copy_secrets]
    assert len(plan.create_jobs) == len(ARCHES) and plan.create_configmaps and plan.copy_secrets
    for body in made:
        assert body["metadata"]["labels"][BUILD_UID_LABEL] == mosb.uid
    for body in plan.create_jobs:  # and their pods
        assert body["spec"]["template"]["metadata"]["labels"][BUILD_UID_LABEL] == mosb.uid


def test_a_succeeded_build_s_labelled_objects_go_in_one_request_each() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    push = jobspec.push_job_name(mosb.name)
    jobs = {n: job(n, complete=True, labelled=mosb.uid) for n in [*jobs, push]}
    copies = [buildsecrets.copy_name(mosb.name, r) for r in ("push", "pull")]
    seen = replace(
        obs,
        jobs=jobs,
        configmaps={jobspec.inputs_configmap_name(mosb.name): mosb.uid},
        secrets={**obs.secrets, **dict.fromkeys(copies, COPY_TYPE)},
        secret_copies=dict.fromkeys(copies, mosb.uid),
    )
    deletes = cleanup.after_success(seen, mosb, mosb.records)
    assert deletes.jobs_of == [mosb.uid] and deletes.jobs == []
    assert deletes.secrets_of == [mosb.uid] and deletes.secrets == []
    assert deletes.configmaps == [jobspec.inputs_configmap_name(mosb.name)]


def test_objects_without_the_label_are_deleted_one_by_one() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    push = jobspec.push_job_name(mosb.name)
    # Build Jobs made before the label; the push Job and one copy made after it.
    jobs = {n: job(n, complete=True) for n in jobs} | {
        push: job(push, complete=True, labelled=mosb.uid)
    }
    old_copy, new_copy = (buildsecrets.copy_name(mosb.name, r) for r in ("push", "pull"))
    seen = replace(
        obs,
        jobs=jobs,
        secrets={**obs.secrets, old_copy: COPY_TYPE, new_copy: COPY_TYPE},
        secret_copies={old_copy: "", new_copy: mosb.uid},
    )
    deletes = cleanup.after_success(seen, mosb, mosb.records)
    # One labelled object alone is deleted by name: one request either way.
    assert sorted(deletes.jobs) == sorted(jobs) and deletes.jobs_of == []
    assert sorted(deletes.secrets) == sorted([old_copy, new_copy]) and deletes.secrets_of == []


def test_another_mosb_s_objects_of_the_same_names_are_not_selected_by_this_uid() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    jobs = {n: job(n, complete=True, labelled="uid-of-an-earlier-mosb") for n in jobs}
    deletes = cleanup.after_success(replace(obs, jobs=jobs), mosb, mosb.records)
    assert deletes.jobs_of == [] and sorted(deletes.jobs) == sorted(jobs)


def test_jobs_already_being_deleted_are_not_deleted_again() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    jobs = {n: job(n, complete=True, deleting=True, labelled=mosb.uid) for n in jobs}
    deletes = cleanup.after_success(replace(obs, jobs=jobs), mosb, mosb.records)
    assert deletes.jobs == [] and deletes.jobs_of == []


def test_leftovers_hold_the_new_mosb_back_until_gone_even_while_being_deleted() -> None:
    obs = observed()
    mosb, jobs = started(obs)
    going = {n: job(n, deleting=True) for n in jobs}
    deletes, left = cleanup.leftovers(replace(obs, jobs=going), mosb.name, ARCHES)
    assert left and deletes.jobs == []
    staying = {n: job(n, complete=True) for n in jobs}
    deletes, left = cleanup.leftovers(replace(obs, jobs=staying), mosb.name, ARCHES)
    assert left and sorted(deletes.jobs) == sorted(jobs)
    deletes, left = cleanup.leftovers(replace(obs, jobs={}), mosb.name, ARCHES)
    assert not left and deletes.jobs == [] and deletes.configmaps == []
