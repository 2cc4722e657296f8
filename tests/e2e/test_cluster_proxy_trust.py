"""The cluster's proxy and trust bundle, as OpenShift provides them, on the local cluster:
a real Proxy `cluster` (config.openshift.io, hack/crds) whose status names a real HTTP
CONNECT proxy (tinyproxy on loopback) and whose spec.trustedCA names
openshift-config/user-ca-bundle, the only place the registry's CA is (the local cluster's
registry CA ConfigMap is switched off), and a service CA ConfigMap of another CA. The
operator runs with the OpenShift overlay's settings and RBAC for them
(manifests/openshift/cluster-network.yaml).

The registry listens on this machine's own address (Go's clients never proxy loopback):
the proxy's log shows the build's registry traffic while the Proxy's status names it, and
none once it names nothing; without the bundle the build fails on the registry's
certificate, saying so.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from api.names import (
    CA_BUNDLE_KEY,
    CLUSTER_PROXY,
    CONFIG_GROUP,
    OPENSHIFT_CONFIG_NAMESPACE,
    PROXIES,
    SERVICE_CA_CONFIGMAP,
    SERVICE_CA_KEY,
    USER_CA_BUNDLE_CONFIGMAP,
)
from hack import bases, controlplane, imagefiles, kube_paths, proxy
from hack.localcluster import ARCHES, NAMESPACE, LocalCluster
from hack.registry import missing_tools
from mosb_controller.cluster.recent import TTL_SECONDS
from mosb_controller.planning.containerfile import CA_BUNDLE_FILE
from tests.support.e2e import COMMON, build_pods, condition, mosbs, succeeded, wait
from tests.support.polling import require

OVERLAY_RBAC = kube_paths.ROOT / "manifests" / "openshift" / "cluster-network.yaml"
POOL = "netrust"
BUNDLE = USER_CA_BUNDLE_CONFIGMAP
# A RUN step of the admin's says which proxy it saw (buildah passes its own on to RUN steps).
SEEN = 'RUN echo "${HTTPS_PROXY:-none} ${http_proxy:-none}" > /etc/mosb-e2e-proxy'
ARGS = [
    "--build-backoff-limit=0",
    "--registry-ca-configmap=",  # the trust bundle is the only place of the registry's CA
    f"--cluster-proxy={CLUSTER_PROXY}",
    f"--additional-trust-bundle={OPENSHIFT_CONFIG_NAMESPACE}/{USER_CA_BUNDLE_CONFIGMAP}",
    f"--service-ca-configmap={SERVICE_CA_CONFIGMAP}",
]


@pytest.fixture(scope="module")
def tinyproxy() -> Iterator[proxy.LocalProxy]:
    require(proxy.missing(), "run hack/setup.sh (Debian's tinyproxy)")
    with proxy.LocalProxy() as p:
        yield p


@pytest.fixture(scope="module")
def local(
    cluster: controlplane.ControlPlane, tinyproxy: proxy.LocalProxy
) -> Iterator[LocalCluster]:
    require(missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, docker-registry)")
    require(bases.run_steps_missing(ARCHES), bases.SETUP_HINT)
    address = proxy.own_address()
    require([] if address else ["a non-loopback IPv4 address"], "the proxy test needs one")
    made = LocalCluster(cluster, registry_address=str(address)).start(with_operator=False)
    try:
        made.core.create_namespace(
            kubernetes.client.V1Namespace(metadata={"name": OPENSHIFT_CONFIG_NAMESPACE})
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side",
         "-f", str(OVERLAY_RBAC)], check=True, capture_output=True,
    )  # fmt: skip
    set_bundle(made, made.ca_text())
    # The service CA OpenShift injects into every namespace: another CA, not the registry's.
    service_ca = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "/dev/null", "-subj", "/CN=service-ca", "-days", "1"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    made.core.create_namespaced_config_map(NAMESPACE, kubernetes.client.V1ConfigMap.model_validate(
        {"metadata": {"name": SERVICE_CA_CONFIGMAP}, "data": {SERVICE_CA_KEY: service_ca}}
    ))  # fmt: skip
    proxy_object = {
        "apiVersion": f"{CONFIG_GROUP}/v1", "kind": "Proxy", "metadata": {"name": CLUSTER_PROXY},
        # A spec the network operator has not accepted: never used (nothing listens there).
        "spec": {"httpsProxy": "http://127.0.0.1:9", "trustedCA": {"name": BUNDLE}},
    }  # fmt: skip
    made.custom.create_cluster_custom_object(CONFIG_GROUP, "v1", PROXIES, proxy_object)
    set_proxy(made, tinyproxy.url)
    made.start_operator(ARGS)
    yield made
    made.custom.delete_cluster_custom_object(CONFIG_GROUP, "v1", PROXIES, CLUSTER_PROXY)
    made.core.delete_namespaced_config_map(SERVICE_CA_CONFIGMAP, NAMESPACE)
    made.stop()
    print(f"operator log: {made.workdir / 'operator.log'}; proxy log: {tinyproxy.log_path}")


def set_proxy(local: LocalCluster, url: str | None) -> None:
    """The Proxy's status, as the network operator publishes it (None: no proxy)."""
    status = {
        "httpProxy": url,
        "httpsProxy": url,
        "noProxy": "localhost,127.0.0.1" if url else None,
    }
    local.custom.patch_cluster_custom_object_status(
        CONFIG_GROUP, "v1", PROXIES, CLUSTER_PROXY, {"status": status}
    )
    time.sleep(TTL_SECONDS + 1)  # the operator reads it again after this


def set_bundle(local: LocalCluster, ca: str | None) -> None:
    """openshift-config/user-ca-bundle with `ca` (None: deleted)."""
    if ca is None:
        local.core.delete_namespaced_config_map(BUNDLE, OPENSHIFT_CONFIG_NAMESPACE)
        time.sleep(TTL_SECONDS + 1)
        return
    body = {"metadata": {"name": BUNDLE}, "data": {CA_BUNDLE_KEY: ca}}
    local.core.create_namespaced_config_map(
        OPENSHIFT_CONFIG_NAMESPACE, kubernetes.client.V1ConfigMap.model_validate(body)
    )


def edit(local: LocalCluster, label: str) -> None:
    """A new Containerfile: a new MachineOSBuild that builds every architecture."""
    content = f"{COMMON}\n{SEEN}\nLABEL io.mosb.e2e.edit={label}"
    local.apply_mosc(POOL, [("NoArch", content)])


def trusted_files(local: LocalCluster, mosb: str) -> set[str]:
    """The CA files each build pod of `mosb` mounted (the same for all of them)."""
    found = set()
    for pod in build_pods(local, mosb).values():
        (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "trust"]
        found.add(frozenset(i["path"] for i in volume["configMap"]["items"]))
    (files,) = found
    return set(files)


def failed(local: LocalCluster, earlier: set[str]) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        for m in mosbs(local, POOL):
            if m["metadata"]["name"] in earlier:
                continue
            assert condition(m, "Succeeded") != "True", "built without trusting the registry"
            if condition(m, "Failed") == "True":
                return m
        return None

    found: dict[str, Any] = wait(done, 240, f"a failed MOSB of {POOL}")
    return found


def test_builds_use_the_proxys_status_and_trust_only_the_bundle(
    local: LocalCluster, tinyproxy: proxy.LocalProxy
) -> None:
    local.add_pool(POOL, ["amd64", "arm64"])
    host = local.registry.host
    seen = len(tinyproxy.requests())
    edit(local, "one")
    first = succeeded(local, POOL)
    through = tinyproxy.requests()[seen:]
    assert through and set(through) == {("CONNECT", host)}, tinyproxy.log_path
    pods = build_pods(local, first["metadata"]["name"])
    for arch, pod in pods.items():
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["HTTPS_PROXY"] == env["http_proxy"] == tinyproxy.url, arch
    assert trusted_files(local, first["metadata"]["name"]) == {"user-ca-bundle.crt",
                                                              "service-ca.crt"}  # fmt: skip
    ref = first["status"]["digestedImagePushSpec"]
    both = f"{tinyproxy.url} {tinyproxy.url}\n"
    for path, expected in ((f"/etc/pki/ca-trust/source/anchors/{CA_BUNDLE_FILE}", local.ca_text()),
                           ("/etc/mosb-e2e-proxy", both)):  # fmt: skip
        found = imagefiles.per_platform(local.registry, ref, path)
        assert {a: i["content"] for a, i in found.items()} == dict.fromkeys(pods, expected), path

    # The network operator publishes no proxy any more: nothing goes through it.
    set_proxy(local, None)
    seen = len(tinyproxy.requests())
    edit(local, "two")
    second = succeeded(local, POOL, other_than=first["metadata"]["name"])
    assert tinyproxy.requests()[seen:] == []
    ref = second["status"]["digestedImagePushSpec"]
    found = imagefiles.per_platform(local.registry, ref, "/etc/mosb-e2e-proxy")
    assert {i["content"] for i in found.values()} == {"none none\n"}

    # Without the bundle the registry's certificate is not trusted, and the build says so.
    set_bundle(local, None)
    edit(local, "three")
    third = failed(local, {first["metadata"]["name"], second["metadata"]["name"]})
    messages = " ".join(c.get("message", "") for c in third["status"]["conditions"])
    assert f"TLS certificate of registry {host} is not trusted" in messages, messages
    assert trusted_files(local, third["metadata"]["name"]) == {"service-ca.crt"}
