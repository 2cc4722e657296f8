"""Which registry credentials a build mounts, where from, and in which form."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from api import EventReason
from api.names import DOCKERCFG_TYPE, DOCKERCONFIGJSON_TYPE
from mosb_controller.planning import buildsecrets
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import plan_mosc
from mosb_controller.settings import Settings
from tests.support.builds import created, progress
from tests.support.factories import mosc, observed

AUTHS = {"registry.example.com": {"auth": base64.b64encode(b"u:p").decode()}}


def _volumes(job: dict[str, Any]) -> dict[str, str]:
    spec = job["spec"]["template"]["spec"]
    return {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}


def _started(obs: Observed) -> tuple[str, list[dict[str, Any]], list[buildsecrets.SecretCopy]]:
    _, mosb = created(obs)
    plan = progress(obs, mosb, {}, {})
    return mosb.name, plan.create_jobs, plan.copy_secrets


def test_both_secret_types_convert_to_one_form() -> None:
    as_json = json.dumps({"auths": AUTHS}).encode()
    as_cfg = json.dumps(AUTHS).encode()
    assert buildsecrets.dockerconfigjson(DOCKERCONFIGJSON_TYPE, {".dockerconfigjson": as_json})
    converted = buildsecrets.dockerconfigjson(DOCKERCFG_TYPE, {".dockercfg": as_cfg})
    assert converted is not None and json.loads(converted) == {"auths": AUTHS}
    assert buildsecrets.dockerconfigjson(DOCKERCFG_TYPE, {".dockercfg": b"{"}) is None
    assert buildsecrets.dockerconfigjson("Opaque", {".dockercfg": as_cfg}) is None


def test_a_dockercfg_push_secret_is_accepted_and_its_copy_mounted() -> None:
    obs = observed(secrets={"push": DOCKERCFG_TYPE})
    mosb, jobs, copies = _started(obs)
    (push,) = copies
    assert (push.role, push.source_namespace, push.source) == ("push", "mosb", "push")
    assert push.name == buildsecrets.copy_name(mosb, "push")
    for job in jobs:
        assert _volumes(job) == {"push-secret": push.name}  # no pull secret: none mounted
    body = buildsecrets.copy_body(
        push, {".dockerconfigjson": b'{"auths": {}}'}, Settings(namespace="mosb")
    )
    assert body["type"] == DOCKERCONFIGJSON_TYPE
    assert body["metadata"]["ownerReferences"][0]["name"] == mosb


def test_other_types_are_refused_naming_both_accepted_ones() -> None:
    plan = plan_mosc(observed(secrets={"push": "Opaque"}))
    assert plan.refusal is not None
    assert plan.refusal.reason == EventReason.PUSH_SECRET_WRONG_TYPE
    assert DOCKERCFG_TYPE in plan.refusal.message


def test_secrets_are_found_in_the_secrets_namespace() -> None:
    settings = Settings(namespace="mosb", secrets_namespace="openshift-machine-config-operator")
    obs = observed(settings=settings, secrets={}, named_secrets={"push": DOCKERCONFIGJSON_TYPE})
    _, _, copies = _started(obs)
    assert [(c.source_namespace, c.source) for c in copies] == [
        ("openshift-machine-config-operator", "push")
    ]
    missing = plan_mosc(replace(obs, named_secrets={}))
    assert missing.refusal is not None
    assert "openshift-machine-config-operator" in missing.refusal.message


def test_without_base_image_pull_secret_the_global_pull_secret_is_used() -> None:
    settings = Settings(namespace="mosb", global_pull_secret="openshift-config/pull-secret")  # noqa: S106 - a name
    obs = observed(settings=settings, global_pull_secret=DOCKERCONFIGJSON_TYPE)
    mosb, jobs, copies = _started(obs)
    pull = next(c for c in copies if c.role == "pull")
    assert (pull.source_namespace, pull.source) == ("openshift-config", "pull-secret")
    builds = [j for j in jobs if j["metadata"]["name"] != f"{mosb}-push"]
    assert all(_volumes(j)["pull-secret"] == pull.name for j in builds)
    # configured but absent: anonymous, as before; an own pull secret wins over it
    _, _, none = _started(replace(obs, global_pull_secret=None))
    assert [c.role for c in none] == ["push"]
    own = replace(
        obs,
        mosc=mosc(pull_secret="base"),  # noqa: S106 - a name
        secrets={"push": DOCKERCONFIGJSON_TYPE, "base": DOCKERCFG_TYPE},
    )
    _, _, mine = _started(own)
    assert {(c.role, c.source) for c in mine} == {("push", "push"), ("pull", "base")}


def test_the_entitlement_is_mounted_into_build_jobs_when_it_exists() -> None:
    ref = "openshift-config-managed/etc-pki-entitlement"
    obs = observed(settings=Settings(namespace="mosb", entitlement_secret=ref), entitlement=True)
    _, jobs, copies = _started(obs)
    ent = next(c for c in copies if c.role == "entitlement")
    assert (ent.source_namespace, ent.source) == tuple(ref.split("/"))
    for job in jobs:
        assert _volumes(job).get("entitlement") == ent.name
    body = buildsecrets.copy_body(ent, {"entitlement.pem": b"x"}, Settings(namespace="mosb"))
    assert body["type"] == "Opaque" and set(body["data"]) == {"entitlement.pem"}
    # absent (or not configured): the builds proceed without it
    _, jobs, copies = _started(replace(obs, entitlement=False))
    assert all("entitlement" not in _volumes(j) for j in jobs)
    assert all(c.role != "entitlement" for c in copies)


def test_the_repository_configmaps_are_references_like_the_entitlement() -> None:
    settings = Settings(
        yum_repos_configmap="openshift-config-managed/etc-yum-repos-d",
        rpm_gpg_configmap="openshift-config-managed/etc-pki-rpm-gpg",
    )
    assert buildsecrets.repo_configmaps(settings) == (
        ("openshift-config-managed", "etc-yum-repos-d"),
        ("openshift-config-managed", "etc-pki-rpm-gpg"),
    )
    assert buildsecrets.repo_configmaps(Settings()) == (None, None)
