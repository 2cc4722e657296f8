"""What the cluster provides for reaching registries (planning/network.py): the proxy in
the build and push pods' env (build.sh makes the build args), the CAs in the one CA
directory they trust, builder mode's image bundle; none of it in a build's identity."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from kubernetes.client import ApiException
from pydantic import ValidationError

from mosb_controller.cluster.network import NetworkReader
from mosb_controller.planning import containerfile, network
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.inputs import BuildInputs, build_inputs
from mosb_controller.planning.network import ClusterNetwork
from mosb_controller.planning.plan import plan_mosc
from mosb_controller.settings import Settings
from tests.support.builds import created
from tests.support.factories import ARCHES, mosc, observed, pool_on, rendered_os, summary

PROXY = {"HTTP_PROXY": "http://proxy.example.com:3128", "NO_PROXY": ".cluster.local,10.0.0.0/16"}
USER_CA = "-----BEGIN CERTIFICATE-----\nuser\n-----END CERTIFICATE-----\n"
SERVICE_CA = "-----BEGIN CERTIFICATE-----\nservice\n-----END CERTIFICATE-----"
NET = ClusterNetwork(
    proxy=PROXY, trust=network.trust_files(None, [USER_CA], SERVICE_CA)
)  # fmt: skip
SETTINGS = Settings(namespace="mosb")


def env_of(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def builder_inputs(net: ClusterNetwork = network.NO_NETWORK) -> BuildInputs:
    rendered = rendered_os(extensions=("usbguard",))
    made = build_inputs(mosc(), pool_on(rendered.name), rendered, summary(ARCHES), network=net)
    assert isinstance(made, BuildInputs), made
    return made


# -- where the values come from -----------------------------------------------------------
def test_a_cluster_proxy_is_read_from_its_status_only() -> None:
    cluster = Settings(cluster_proxy="cluster")
    status = {"httpProxy": "http://p:3128", "httpsProxy": "http://p:3129", "noProxy": ""}
    assert network.proxy_values(cluster, status) == {
        "HTTP_PROXY": "http://p:3128",
        "HTTPS_PROXY": "http://p:3129",
    }
    # not yet published by the network operator (or no Proxy): no proxy, as upstream
    assert network.proxy_values(cluster, None) == {}
    assert network.proxy_values(cluster, {}) == {}


def test_without_a_cluster_proxy_the_settings_are_the_proxy() -> None:
    plain = Settings(https_proxy="http://p:3128", no_proxy="registry.local")
    assert network.proxy_values(plain, {"httpProxy": "http://ignored"}) == {
        "HTTPS_PROXY": "http://p:3128",
        "NO_PROXY": "registry.local",
    }
    assert network.proxy_values(Settings(), None) == {}
    with pytest.raises(ValidationError, match="cluster-proxy"):
        Settings(cluster_proxy="cluster", http_proxy="http://p:3128")


def test_trust_files_one_per_source_the_bundles_joined() -> None:
    other = "-----BEGIN CERTIFICATE-----\nproxy-trusted\n-----END CERTIFICATE-----"
    files = network.trust_files("registry\n", [USER_CA, None, other], "")
    assert files == {
        network.REGISTRY_CA_FILE: "registry\n",
        network.ADDITIONAL_TRUST_FILE: USER_CA + other + "\n",
    }
    assert network.trust_files(None, [None], None) == {}


# -- the Jobs -----------------------------------------------------------------------------
def test_build_and_push_pods_get_the_proxy_in_both_spellings() -> None:
    inputs = replace(builder_inputs(), network=NET)
    jobs = [
        jobspec.build_job(inputs, "worker-abc", "uid", "arm64", SETTINGS),
        jobspec.push_job(inputs, "worker-abc", "uid", {"arm64": "r@sha256:" + "1" * 64}, SETTINGS),
    ]
    for job in jobs:
        env = env_of(job)
        for name, value in PROXY.items():
            assert env[name] == env[name.lower()] == value
        assert "HTTPS_PROXY" not in env  # not set: not there (no empty proxy)
        assert env["MOSB_CA_DIR"] == jobspec.CA_MOUNT


def test_every_ca_is_a_file_of_the_one_ca_directory_from_the_inputs_configmap() -> None:
    inputs = replace(builder_inputs(), network=NET)
    cm = jobspec.inputs_configmap(inputs, "worker-abc", "uid", ["arm64"], SETTINGS)
    for job in (
        jobspec.build_job(inputs, "worker-abc", "uid", "arm64", SETTINGS),
        jobspec.push_job(inputs, "worker-abc", "uid", {}, SETTINGS),
    ):
        pod = job["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "trust"]
        assert volume["configMap"]["name"] == jobspec.inputs_configmap_name("worker-abc")
        assert volume["configMap"]["optional"] is True  # a CA added later: skipped, not stuck
        mounted = {i["path"]: cm["data"][i["key"]] for i in volume["configMap"]["items"]}
        assert mounted == {"user-ca-bundle.crt": USER_CA, "service-ca.crt": SERVICE_CA + "\n"}
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "trust"]
        assert mount == {"name": "trust", "mountPath": jobspec.CA_MOUNT, "readOnly": True}


def test_nothing_configured_gives_no_proxy_no_ca_directory() -> None:
    inputs = builder_inputs()
    job = jobspec.build_job(inputs, "worker-abc", "uid", "amd64", SETTINGS)
    env = env_of(job)
    assert env.get("MOSB_CA_DIR", "") == ""
    assert not {k for k in env if k.lower().endswith("_proxy")}
    pod = job["spec"]["template"]["spec"]
    assert "trust" not in {v["name"] for v in pod["volumes"]}
    cm = jobspec.inputs_configmap(inputs, "worker-abc", "uid", ["amd64"], SETTINGS)
    assert not [k for k in cm["data"] if k.startswith(jobspec.TRUST_PREFIX)]


def test_the_planner_takes_them_from_what_it_observed() -> None:
    obs = replace(observed(), network=NET)
    _, mosb = created(obs)
    plan = plan_mosc(replace(obs, mosbs={mosb.name: mosb}))
    assert plan.create_jobs
    for job in plan.create_jobs:
        assert env_of(job)["HTTP_PROXY"] == PROXY["HTTP_PROXY"]
    (cm,) = plan.create_configmaps
    assert cm["data"][jobspec.TRUST_PREFIX + "service-ca.crt"] == SERVICE_CA + "\n"


# -- builder mode's image, and identity ---------------------------------------------------
def test_builder_mode_bakes_in_the_clusters_bundle_and_declares_the_proxy_args() -> None:
    inputs = builder_inputs(NET)
    files = inputs.context_files()
    assert files[containerfile.CA_BUNDLE_FILE] == USER_CA  # not the service CA: upstream's
    text = inputs.rendered_containerfile("worker-abc", "amd64")
    configs = text[text.index("AS configs\n") :]
    assert configs.startswith("AS configs\nARG HTTP_PROXY\nARG HTTPS_PROXY\nARG NO_PROXY\n")
    # values arrive as build args only: the Containerfile is the same with or without them
    assert text == builder_inputs().rendered_containerfile("worker-abc", "amd64")
    assert "proxy.example.com" not in json.dumps(inputs.context_files())


def test_a_proxy_or_ca_change_rebuilds_nothing() -> None:
    before, after = builder_inputs(), builder_inputs(NET)
    assert before.mosb_name() == after.mosb_name()
    assert [before.arch_key(a) for a in ARCHES] == [after.arch_key(a) for a in ARCHES]


# -- reading them (cluster/network.py), from a stand-in for the API ----------------------
class OnHand:
    """The reads NetworkReader makes, answered from memory: a Proxy and ConfigMaps."""

    def __init__(self, proxy: dict[str, Any] | None, configmaps: dict[tuple[str, str], str]):
        self.proxy, self.configmaps, self.reads = proxy, configmaps, 0
        self.configmap_reads: list[tuple[str, str]] = []
        self.custom = self

    def get_cluster_custom_object(self, group: str, version: str, plural: str, name: str) -> Any:
        self.reads += 1
        if self.proxy is None or (group, plural, name) != ("config.openshift.io", "proxies",
                                                           "cluster"):  # fmt: skip
            raise ApiException(status=404)
        return self.proxy

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self.configmap_reads.append((namespace, name))
        pem = self.configmaps.get((namespace, name))
        key = "service-ca.crt" if name == "openshift-service-ca.crt" else "ca-bundle.crt"
        return None if pem is None else {key: pem}


OPENSHIFT = Settings(
    namespace="mosb",
    cluster_proxy="cluster",
    additional_trust_bundle="openshift-config/user-ca-bundle",
    service_ca_configmap="openshift-service-ca.crt",
)


def read(api: OnHand, settings: Settings = OPENSHIFT) -> ClusterNetwork:
    return NetworkReader(api, settings).read()  # type: ignore[arg-type]


def test_the_reader_takes_the_status_and_joins_a_different_trusted_ca() -> None:
    proxy: dict[str, Any] = {
        "spec": {"httpProxy": "http://not-yet:1", "trustedCA": {"name": "proxy-ca"}},
        "status": {"httpProxy": "http://p:3128"},
    }
    api = OnHand(proxy, {("openshift-config", "user-ca-bundle"): USER_CA,
                         ("openshift-config", "proxy-ca"): "proxy\n",
                         ("mosb", "openshift-service-ca.crt"): SERVICE_CA})  # fmt: skip
    found = read(api)
    assert found.proxy == {"HTTP_PROXY": "http://p:3128"}
    assert found.trust == {"user-ca-bundle.crt": USER_CA + "proxy\n",
                           "service-ca.crt": SERVICE_CA + "\n"}  # fmt: skip
    # trustedCA naming user-ca-bundle itself: not twice
    proxy["spec"]["trustedCA"] = {"name": "user-ca-bundle"}
    assert read(api).trust["user-ca-bundle.crt"] == USER_CA


def test_the_reader_without_a_proxy_or_bundles_gives_nothing_and_reads_once_a_while() -> None:
    api = OnHand(None, {})
    assert read(api) == ClusterNetwork()
    reader = NetworkReader(api, OPENSHIFT)  # type: ignore[arg-type]
    reads = api.reads
    for _ in range(5):
        reader.read()
    assert api.reads == reads + 1  # one read serves every pass for a few seconds


def test_the_controller_namespace_s_cas_come_from_the_watch_and_others_are_read() -> None:
    api = OnHand(None, {("openshift-config", "user-ca-bundle"): USER_CA,
                        ("mosb", "openshift-service-ca.crt"): "stale, as read\n"})  # fmt: skip
    reader = NetworkReader(api, OPENSHIFT)  # type: ignore[arg-type]
    watched = {"openshift-service-ca.crt": {"service-ca.crt": SERVICE_CA}}
    found = reader.read(watched)
    assert found.trust == {"user-ca-bundle.crt": USER_CA,
                           "service-ca.crt": SERVICE_CA + "\n"}  # fmt: skip
    assert api.configmap_reads == [("openshift-config", "user-ca-bundle")]
    # Absent from the watch: absent, not read.
    assert "service-ca.crt" not in reader.read({}).trust
    assert api.configmap_reads == [("openshift-config", "user-ca-bundle")]
