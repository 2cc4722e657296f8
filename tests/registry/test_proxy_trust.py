"""The build and push Jobs behind a real HTTP CONNECT proxy (tinyproxy on loopback) and
with a registry whose CA only the cluster's trust bundle carries, run for real (podrunner,
buildah, skopeo; hack/jobcontract.py renders them as the controller does).

The registry listens on this machine's own non-loopback address, in its certificate too:
Go's clients never send loopback addresses through a proxy. The proxy's log says which
requests went through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hack import podrunner, proxy, registry
from hack.jobcontract import BASE_REPO, REPO, assert_ok, build_all, digested, make_inputs, scenario
from mosb_controller.planning import network
from mosb_controller.planning.network import ClusterNetwork
from tests.support.polling import require

ARCHES = ("amd64", "arm64")


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    require(registry.missing_tools() + proxy.missing(), "run hack/setup.sh")
    address = proxy.own_address()
    require([] if address else ["a non-loopback IPv4 address"], "the proxy tests need one")
    assert address is not None
    with registry.LocalRegistry(address=address) as r:
        yield r


@pytest.fixture(scope="module")
def tinyproxy() -> Iterator[proxy.LocalProxy]:
    with proxy.LocalProxy() as p:
        yield p


@pytest.fixture(scope="module")
def base(reg: registry.LocalRegistry) -> str:
    return registry.seed_base_image(reg, BASE_REPO, ARCHES)


def bundle(reg: registry.LocalRegistry) -> dict[str, str]:
    """The registry's CA as the cluster's additional trust bundle, and nothing else."""
    return {network.ADDITIONAL_TRUST_FILE: (reg.ca_dir / "ca.crt").read_text()}


def first_line(outcome: podrunner.PodOutcome) -> str:
    message = outcome.termination_message
    assert outcome.exit_code != 0 and message.startswith("error: "), message
    return message.splitlines()[0]


def test_builds_and_the_push_reach_the_registry_through_the_proxy_only_when_configured(
    reg: registry.LocalRegistry, base: str, tinyproxy: proxy.LocalProxy, tmp_path: Path
) -> None:
    through = ClusterNetwork(proxy={"HTTP_PROXY": tinyproxy.url, "HTTPS_PROXY": tinyproxy.url,
                                    "NO_PROXY": "localhost,127.0.0.1"})  # fmt: skip
    proxied = scenario(reg, replace(make_inputs(reg, base, ARCHES), network=through),
                       trust=bundle(reg))  # fmt: skip
    seen = len(tinyproxy.requests())
    images = digested(proxied, build_all(proxied, tmp_path / "proxied"))
    after_builds = tinyproxy.requests()[seen:]
    assert_ok(proxied.run(proxied.push_job(images), tmp_path / "proxied-push"))
    after_push = tinyproxy.requests()[seen + len(after_builds) :]
    # every build and the push tunnelled to the registry, and to nothing else
    assert len(after_builds) >= len(ARCHES) and after_push, tinyproxy.log_path
    assert set(after_builds + after_push) == {("CONNECT", reg.host)}
    print(f"through the proxy: {len(after_builds)} by the builds, {len(after_push)} by the push")

    direct = scenario(reg, make_inputs(reg, base, ARCHES), trust=bundle(reg))
    seen = len(tinyproxy.requests())
    images = digested(direct, build_all(direct, tmp_path / "direct"))
    assert_ok(direct.run(direct.push_job(images), tmp_path / "direct-push"))
    assert tinyproxy.requests()[seen:] == []  # no proxy configured: none used


def test_builds_and_pushes_trust_the_bundle_and_fail_clearly_without_it(
    reg: registry.LocalRegistry, base: str, tmp_path: Path
) -> None:
    inputs = make_inputs(reg, base, ARCHES)
    untrusted = scenario(reg, inputs, trust={})
    cause = f"TLS certificate of registry {reg.host} is not trusted"
    failed = untrusted.run(untrusted.build_job("arm64"), tmp_path / "build-untrusted")
    assert first_line(failed).startswith("error: build for linux/arm64 failed: " + cause)
    assert "x509" in failed.termination_message  # buildah's own words follow

    trusted = scenario(reg, inputs, trust=bundle(reg))
    images = digested(trusted, build_all(trusted, tmp_path / "trusted"))
    failed = untrusted.run(untrusted.push_job(images), tmp_path / "push-untrusted")
    assert cause in first_line(failed) and "nothing was pushed" in first_line(failed)
    assert reg.manifest(REPO, trusted.mosb) is None
    # the service CA is another file of the same CA directory: trusted the same way
    service = replace(trusted, inputs=replace(trusted.inputs, network=ClusterNetwork(
        trust={network.SERVICE_CA_FILE: bundle(reg)[network.ADDITIONAL_TRUST_FILE]})))  # fmt: skip
    digest = assert_ok(service.run(service.push_job(images), tmp_path / "push-trusted"))
    assert reg.manifest(REPO, trusted.mosb) is not None and digest
