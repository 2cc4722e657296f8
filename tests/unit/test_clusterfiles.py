"""What the cluster gives a build besides credentials: the pool's registries.conf and
policy.json as its rendered MachineConfig carries them, and the RPM repositories; where
the build and push Jobs find them, and what an unreadable one refuses."""

from __future__ import annotations

import base64
import gzip
import urllib.parse
from dataclasses import replace
from typing import Any

import pytest

from api import EventReason, MachineConfig
from mosb_controller.planning import clusterfiles
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.plan import plan_mosc
from tests.support.builds import created, finish_builds, progress, started
from tests.support.factories import RENDERED, observed, rendered_body

REGISTRIES = """[[registry]]
  prefix = ""
  location = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
  [[registry.mirror]]
    location = "mirror.example.com/ocp"
    pull-from-mirror = "digest-only"
"""
POLICY = '{"default": [{"type": "insecureAcceptAnything"}]}'


def _gzip_base64(text: str) -> dict[str, str]:
    data = base64.b64encode(gzip.compress(text.encode())).decode()
    return {"source": f"data:;base64,{data}", "compression": "gzip"}


def _percent(text: str) -> dict[str, str]:
    return {"source": "data:," + urllib.parse.quote(text)}


def rendered_with(files: dict[str, dict[str, str]]) -> MachineConfig:
    """RENDERED (the pool's config) carrying these Ignition files (path → contents)."""
    body = rendered_body(os_image=RENDERED.spec.os_image_url)
    entries = [{"path": p, "mode": 420, "contents": c} for p, c in files.items()]
    body["spec"]["config"] = {"ignition": {"version": "3.5.0"}, "storage": {"files": entries}}
    return MachineConfig.from_k8s(body)


CARRYING = rendered_with(
    {
        "/etc/motd": _percent("hi"),
        clusterfiles.REGISTRIES_CONF_PATH: _gzip_base64(REGISTRIES),
        clusterfiles.POLICY_JSON_PATH: _percent(POLICY),
    }
)


def _spec(job: dict[str, Any]) -> Any:
    return job["spec"]["template"]["spec"]


def _env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _spec(job)["containers"][0]["env"]}


def _mounts(job: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in _spec(job)["containers"][0]["volumeMounts"]}


def test_data_urls_decode_as_ignition_writes_them() -> None:
    assert clusterfiles.decode_source("data:,a%20b%0A") == b"a b\n"
    text = base64.b64encode(b"x=1\n").decode()
    assert clusterfiles.decode_source(f"data:text/plain;charset=utf-8;base64,{text}") == b"x=1\n"
    gz = _gzip_base64("y")
    assert clusterfiles.decode_source(gz["source"], gz["compression"]) == b"y"
    for source, compression in (
        ("https://example.com/registries.conf", None),
        ("data:;base64,%%%", None),
        ("data:no-comma", None),
        ("data:,plain", "gzip"),
        ("data:,plain", "zstd"),
    ):
        with pytest.raises(ValueError):
            clusterfiles.decode_source(source, compression)


def test_the_rendered_config_gives_both_files_absent_ones_are_none() -> None:
    files = clusterfiles.from_rendered(CARRYING)
    assert (files.registries_conf, files.policy_json) == (REGISTRIES, POLICY)
    assert clusterfiles.from_rendered(RENDERED) == clusterfiles.ClusterFiles()
    assert clusterfiles.from_rendered(None) == clusterfiles.ClusterFiles()


def test_build_and_push_pods_get_the_files_through_the_inputs_configmap() -> None:
    obs = observed(rendered=CARRYING)
    _, mosb = created(obs)
    first = progress(obs, mosb, {}, {})
    (configmap,) = plan_mosc(replace(obs, mosbs={mosb.name: mosb})).create_configmaps
    assert configmap["data"][clusterfiles.REGISTRIES_CONF] == REGISTRIES
    assert configmap["data"][clusterfiles.POLICY_JSON] == POLICY
    mosb, jobs = started(obs)
    mosb, pods = finish_builds(obs, mosb, jobs)
    (push,) = progress(obs, mosb, jobs, pods).create_jobs
    for job in [*first.create_jobs, push]:
        volume = next(v for v in _spec(job)["volumes"] if v["name"] == "containers-conf")
        assert volume["configMap"]["name"] == configmap["metadata"]["name"]
        assert volume["configMap"]["optional"] is True
        assert _mounts(job)["containers-conf"] == clusterfiles.CONTAINERS_MOUNT
        assert _env(job)["MOSB_REGISTRIES_CONF"] == "/etc/mosb/containers/registries.conf"
    # the policy is about pulls: the base, which only the build pulls
    assert {_env(job).get("MOSB_SIGNATURE_POLICY") for job in [*first.create_jobs, push]} == {
        "/etc/mosb/containers/policy.json",
        None,
    }


def test_without_the_files_the_configmap_has_no_such_keys_and_jobs_are_the_same() -> None:
    with_files, without = observed(rendered=CARRYING), observed()
    _, mosb = created(without)
    (configmap,) = plan_mosc(replace(without, mosbs={mosb.name: mosb})).create_configmaps
    assert not {clusterfiles.REGISTRIES_CONF, clusterfiles.POLICY_JSON} & set(configmap["data"])
    # the files are no input of what is built: the same MOSB, the same Jobs
    _, mosb_with = created(with_files)
    assert mosb_with.name == mosb.name
    assert (
        progress(with_files, mosb, {}, {}).create_jobs
        == progress(without, mosb, {}, {}).create_jobs
    )


def test_an_undecodable_file_refuses_the_build_naming_it() -> None:
    broken = rendered_with({clusterfiles.POLICY_JSON_PATH: {"source": "data:;base64,@@"}})
    plan = plan_mosc(observed(rendered=broken))
    assert plan.refusal is not None
    assert plan.refusal.reason == EventReason.INVALID_BUILD_INPUTS
    assert clusterfiles.POLICY_JSON_PATH in plan.refusal.message
    assert RENDERED.name in plan.refusal.message
    assert plan.create_mosb is None


def test_the_inputs_configmap_name_is_what_the_jobs_mount() -> None:
    volume = clusterfiles.containers_volume(jobspec.inputs_configmap_name("m"))
    assert volume["configMap"]["name"] == "m-inputs"
    assert [i["key"] for i in volume["configMap"]["items"]] == ["registries.conf", "policy.json"]


def test_rpm_repositories_and_keys_are_mounted_into_build_jobs_when_they_exist() -> None:
    repo, key = "[rhel]\nbaseurl=https://cdn.example.com/rhel\n", "-----BEGIN PGP-----\n"
    obs = observed(yum_repos={"redhat.repo": repo}, rpm_gpg={"RPM-GPG-KEY-redhat": key})
    _, mosb = created(obs)
    (configmap,) = plan_mosc(replace(obs, mosbs={mosb.name: mosb})).create_configmaps
    assert configmap["data"]["yum.repos.d.redhat.repo"] == repo
    assert configmap["data"]["rpm-gpg.RPM-GPG-KEY-redhat"] == key
    for job in progress(obs, mosb, {}, {}).create_jobs:
        volumes = {v["name"]: v["configMap"] for v in _spec(job)["volumes"] if "configMap" in v}
        assert volumes["yum-repos"]["items"] == [
            {"key": "yum.repos.d.redhat.repo", "path": "redhat.repo"}
        ]
        assert volumes["rpm-gpg"]["name"] == configmap["metadata"]["name"]
        assert volumes["rpm-gpg"]["optional"] is True
        mounts, env = _mounts(job), _env(job)
        assert mounts["yum-repos"] == env["MOSB_YUM_REPOS_DIR"] == "/etc/mosb/yum.repos.d"
        assert mounts["rpm-gpg"] == env["MOSB_RPM_GPG_DIR"] == "/etc/mosb/rpm-gpg"
    # absent (or not configured): the builds proceed without them
    for job in progress(observed(), mosb, {}, {}).create_jobs:
        assert not {"yum-repos", "rpm-gpg"} & set(_mounts(job))
        env = _env(job)  # unset: the scripts read them as `${NAME:-}`
        assert env.get("MOSB_YUM_REPOS_DIR", "") == env.get("MOSB_RPM_GPG_DIR", "") == ""
