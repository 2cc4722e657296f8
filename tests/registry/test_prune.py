"""Pruning against the real registry: the repository read as the pruner reads it (tags,
lists and their children), the decision over it, `skopeo delete` doing it, and the
registry's refusals (deletes disabled: 405; a wrong password) named and asked once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api import PruneRefusal
from hack import registry
from hack.registry import Buildah
from mosb_controller.cluster import imageprune
from mosb_controller.cluster.imagecheck import Access, Skopeo
from mosb_controller.planning.retention import prune
from tests.support.kubelet import push_arch_image

OLD, NEW = "worker-00000000000000a1", "worker-00000000000000a2"


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    if registry.missing_tools():
        pytest.skip(f"missing {registry.missing_tools()}: run hack/setup.sh")
    with registry.LocalRegistry() as r:
        yield r


def access(reg: registry.LocalRegistry, *, wrong: bool = False) -> Access:
    return Access(reg.dockerconfigjson(wrong_password=wrong), (reg.ca_dir / "ca.crt").read_text())


def push_list(reg: registry.LocalRegistry, store: Path, ref: str, children: list[str]) -> str:
    b = Buildah(store)
    auth = reg.authfile(store / "auth.json")
    tls = ["--authfile", str(auth), "--cert-dir", str(reg.ca_dir)]
    name = f"list-{ref.rsplit(':', 1)[1]}"
    b("manifest", "create", name)
    for child in children:
        b("manifest", "add", *tls, name, f"docker://{child}")
    b("manifest", "push", *tls, "--digestfile", str(store / "list-digest"), name, f"docker://{ref}")
    return (store / "list-digest").read_text().strip()


def two_builds(reg: registry.LocalRegistry, store: Path, repo: str) -> dict[str, str]:
    """OLD built amd64 and arm64; NEW rebuilt amd64 and reuses OLD's arm64 in its list."""
    d = {
        f"{OLD}-{a}": push_arch_image(reg, store / a, f"{repo}:{OLD}-{a}", a, "old")
        for a in ("amd64", "arm64")
    }
    d[f"{NEW}-amd64"] = push_arch_image(reg, store / "new", f"{repo}:{NEW}-amd64", "amd64", "new")
    d[OLD] = push_list(reg, store, f"{repo}:{OLD}", [f"{repo}:{OLD}-amd64", f"{repo}:{OLD}-arm64"])
    d[NEW] = push_list(reg, store, f"{repo}:{NEW}", [f"{repo}:{NEW}-amd64", f"{repo}:{OLD}-arm64"])
    return d


def test_retired_tags_go_and_a_reused_image_stays(
    reg: registry.LocalRegistry, tmp_path: Path
) -> None:
    repo = f"{reg.host}/ocl/prune"
    digests = two_builds(reg, tmp_path, repo)
    skopeo, acc = Skopeo(tls_verify=True), access(reg)
    current = {f"{repo}@{digests[NEW]}": "the current image of worker"}
    inventory = imageprune.read_inventory(skopeo, acc, repo, current)
    assert inventory.tags == digests and not inventory.unreadable
    assert set(inventory.manifests[digests[NEW]].children) == {
        digests[f"{NEW}-amd64"],
        digests[f"{OLD}-arm64"],
    }
    assert (inventory.manifests[digests[f"{OLD}-amd64"]].size or 0) > 0  # declared bytes
    # NEW's record is gone too (no live MOSB): only the current image keeps it and its children
    decision = prune("worker", inventory, [], current, desired="worker-ffffffffffffffff")
    assert sorted(t for d in decision.deletes for t in d.tags) == [OLD, f"{OLD}-amd64"]
    for item in decision.deletes:
        assert imageprune.delete(skopeo, acc, repo, item.digest).ok
    assert reg.tags("ocl/prune") == sorted([NEW, f"{NEW}-amd64", f"{OLD}-arm64"])
    assert imageprune.delete(skopeo, acc, repo, decision.deletes[0].digest).detail == "already gone"


def test_refusals_are_named(tmp_path: Path) -> None:
    if registry.missing_tools():
        pytest.skip("run hack/setup.sh")
    with registry.LocalRegistry(deletes=False) as refusing:
        repo = f"{refusing.host}/ocl/kept"
        digest = push_arch_image(refusing, tmp_path, f"{repo}:{OLD}-amd64", "amd64", "x")
        skopeo = Skopeo(tls_verify=True)
        refused = imageprune.delete(skopeo, access(refusing), repo, digest)
        assert (refused.ok, refused.refusal) == (False, PruneRefusal.METHOD_NOT_ALLOWED), refused
        wrong = imageprune.delete(skopeo, access(refusing, wrong=True), repo, digest)
        assert (wrong.ok, wrong.refusal) == (False, PruneRefusal.UNAUTHORIZED), wrong
        deletes = [e for e in refusing.access_log() if e.method == "DELETE"]
        assert len(deletes) == 1  # skopeo asked once: --retry-times does not retry a 405
        assert refusing.tags("ocl/kept") == [f"{OLD}-amd64"]
