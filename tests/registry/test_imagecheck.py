"""The operator's image checks (skopeo) against the real registry: what exists, what
doesn't, and that one repository's tags are answered by one listing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from api import MachineConfig
from api.names import DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE
from hack import registry
from mosb_controller.cluster.imagecheck import ImageChecker, split_tag
from mosb_controller.planning.observed import ImageCheck, RegistryAnswer
from mosb_controller.settings import Settings
from tests.support import mirrors
from tests.support.factories import observed
from tests.support.kubelet import push_arch_image
from tests.support.polling import require


class SecretsOnHand:
    """The two reads the checker makes through the API layer, answered from memory."""

    def __init__(self, secrets: Mapping[str, bytes], ca: str) -> None:
        self.secrets, self.ca = secrets, ca

    def read_secret(self, namespace: str, name: str) -> tuple[str, dict[str, bytes]] | None:
        if name not in self.secrets:
            return None
        return DOCKERCONFIGJSON_TYPE, {DOCKERCONFIGJSON_KEY: self.secrets[name]}

    def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"ca-bundle.crt": self.ca}


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    missing = registry.missing_tools()
    if missing:
        pytest.skip(f"missing {missing}: run hack/setup.sh")
    with registry.LocalRegistry() as r:
        yield r


def check_all(check: ImageChecker, refs: list[str], secret: str) -> list[ImageCheck]:
    answers = check.answers(refs, secret)
    return [answers[ref] for ref in refs]


def checker(reg: registry.LocalRegistry) -> ImageChecker:
    writer = SecretsOnHand({"push": reg.dockerconfigjson()}, (reg.ca_dir / "ca.crt").read_text())
    settings = Settings(registry_ca_configmap="ca")
    return ImageChecker(writer, settings)  # type: ignore[arg-type]


def test_split_tag() -> None:
    assert split_tag("host:5000/ns/repo:tag-1") == ("host:5000/ns/repo", "tag-1")
    assert split_tag("host:5000/ns/repo") == ("host:5000/ns/repo", "latest")
    assert split_tag(f"host/repo@sha256:{'a' * 64}") is None


def test_tags_of_one_repository_are_answered_by_one_listing(
    reg: registry.LocalRegistry, tmp_path: Path
) -> None:
    repo = f"{reg.host}/ocl/checks"
    digest = push_arch_image(reg, tmp_path, f"{repo}:build-amd64", "amd64", "check")
    refs = [f"{repo}:build-amd64", f"{repo}:build-arm64", f"{repo}:build-s390x"]
    check = checker(reg)
    answers = check_all(check, refs, "push")
    assert [a.state for a in answers] == [
        RegistryAnswer.EXISTS,
        RegistryAnswer.ABSENT,
        RegistryAnswer.ABSENT,
    ]
    assert answers[0].digest == digest
    assert check.calls == 2  # one list-tags, one inspect for the tag that exists
    by_digest = check_all(check, [f"{repo}@{digest}"], "push")
    assert by_digest[0].state == RegistryAnswer.EXISTS


def test_a_missing_repository_or_secret_is_said(reg: registry.LocalRegistry) -> None:
    check = checker(reg)
    refs = [f"{reg.host}/ocl/never:a", f"{reg.host}/ocl/never:b"]
    assert {a.state for a in check_all(check, refs, "push")} == {RegistryAnswer.ABSENT}
    unknown = check_all(check, refs, "no-such-secret")
    assert {a.state for a in unknown} == {RegistryAnswer.UNKNOWN}
    assert "no-such-secret" in unknown[0].detail


def test_a_registry_that_does_not_answer_is_unknown_not_absent(
    reg: registry.LocalRegistry,
) -> None:
    check = checker(reg)
    refs = ["127.0.0.1:1/ocl/x:a", "127.0.0.1:1/ocl/x:b"]
    assert {a.state for a in check_all(check, refs, "push")} == {RegistryAnswer.UNKNOWN}


def test_the_checks_read_through_the_pools_registries_conf(reg: registry.LocalRegistry) -> None:
    """A digest under a registry that cannot be reached exists through the pool's mirror
    (tests/support/mirrors.py), as the build pulls it; without the mirror it is unknown."""
    require(mirrors.resolvable(), "a resolver that answers NXDOMAIN for .invalid names")
    seeded = registry.seed_base_image(reg, "ocp/mirrored", ("amd64",), flavour="scratch")
    ref = mirrors.mirrored_base(reg, seeded)
    conf = mirrors.registries_conf(f"{reg.host}/ocp/mirrored")
    check = checker(reg)
    found = check.answers([ref], "push", registries_conf=conf)[ref]
    assert found.state == RegistryAnswer.EXISTS
    assert found.digest == ref.rpartition("@")[2]
    unmirrored = check.answers([ref], "push")[ref]  # "exists" is cached per registries.conf
    assert unmirrored.state == RegistryAnswer.UNKNOWN
    assert "quay.invalid" in unmirrored.detail


def test_a_pass_asks_with_its_pools_registries_conf(tmp_path: Path) -> None:
    """`asker` (what a build loop pass asks with): the push secret of the MOSC and the
    registries.conf of its pool's rendered config, a global option before the command."""
    record = tmp_path / "argv"
    fake = tmp_path / "skopeo"
    fake.write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$@" > {record}\n'
        'conf=${1#--registries-conf=}; [ "$conf" != "$1" ] && cat "$conf" >> '
        f"{record}\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    writer = SecretsOnHand({"push": b'{"auths": {}}'}, "")
    check = ImageChecker(writer, Settings(), skopeo=str(fake))  # type: ignore[arg-type]
    rendered = MachineConfig.from_k8s(
        {"metadata": {"name": "rendered-worker-1"}, "spec": {"config": {"storage": {"files": [
            {"path": "/etc/containers/registries.conf",
             "contents": {"source": "data:,%5B%5Bregistry%5D%5D%0A"}}]}}}}
    )  # fmt: skip
    ref = "registry.example.com/ocl/worker:x"
    check.asker(observed(rendered=rendered))([ref])
    argv = record.read_text().splitlines()
    assert argv[0].startswith("--registries-conf=") and argv[1] == "inspect"
    assert argv[-1] == "[[registry]]"
    check.asker(observed())([ref])  # a pool without one: skopeo's own
    assert record.read_text().splitlines()[0] == "inspect"
