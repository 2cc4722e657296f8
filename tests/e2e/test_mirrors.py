"""Mirrors and signature policy as a cluster renders them, end to end: the pool's rendered
MachineConfig names its base as a release does, by digest under a registry that cannot
be reached (tests/support/mirrors.py), and carries the registries.conf and policy.json
the MCO renders from an ImageDigestMirrorSet and the image policy. The operator, the
node harness (real buildah and skopeo) and the local registry (the mirror) do the rest.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from typing import Any

import pytest

from hack.localcluster import LocalCluster
from mosb_controller.planning.clusterfiles import POLICY_JSON_PATH, REGISTRIES_CONF_PATH
from tests.support import mirrors
from tests.support.e2e import condition, mosbs, succeeded, wait
from tests.support.polling import require

pytestmark = [pytest.mark.e2e]
CONTAINERFILE = "FROM configs AS final\nLABEL io.mosb.e2e.mirrored=yes"


@pytest.fixture(scope="module", autouse=True)
def _unreachable_source() -> None:
    require(mirrors.resolvable(), "a resolver that answers NXDOMAIN for .invalid names")


def _ignition_file(path: str, text: str, *, gzipped: bool) -> dict[str, Any]:
    """A file as a rendered MachineConfig carries it (the MCO writes both forms)."""
    data = gzip.compress(text.encode()) if gzipped else text.encode()
    contents = {"source": "data:;base64," + base64.b64encode(data).decode()}
    if gzipped:
        contents["compression"] = "gzip"
    return {"path": path, "mode": 420, "overwrite": True, "contents": contents}


def _pool(local: LocalCluster, name: str, arches: Sequence[str], files: dict[str, str]) -> None:
    """A pool whose rendered config builds on the base under the unreachable source, and
    carries `files` (path → content); and its MachineOSConfig."""
    local.add_nodes(name, arches, 1, name)
    rendered = f"rendered-{name}-1"
    entries = [
        _ignition_file(path, text, gzipped=path == POLICY_JSON_PATH) for path, text in files.items()
    ]
    spec = {
        "osImageURL": mirrors.mirrored_base(local.registry, local.base_image),
        "config": {"ignition": {"version": "3.5.0"}, "storage": {"files": entries}},
    }
    local.create("machineconfigs", "MachineConfig", {"metadata": {"name": rendered}, "spec": spec})
    local.create("machineconfigpools", "MachineConfigPool", {
        "metadata": {"name": name},
        "spec": {"nodeSelector": {"matchLabels": {"pool": name}}, "machineConfigSelector": {},
                 "configuration": {"name": rendered}},
    })  # fmt: skip
    local.create(
        "machineosconfigs", "MachineOSConfig", local.mosc_body(name, [("NoArch", CONTAINERFILE)])
    )


def _failure(local: LocalCluster, mosc: str) -> str:
    """The Failed condition's message of the MOSC's build (which must not succeed)."""

    def failed() -> str | None:
        for mosb in mosbs(local, mosc):
            if condition(mosb, "Succeeded") == "True":
                raise AssertionError(f"{mosb['metadata']['name']} succeeded")
            if condition(mosb, "Failed") == "True":
                found = mosb["status"]["conditions"]
                return str(next(c for c in found if c["type"] == "Failed")["message"])
        return None

    return str(wait(failed, 240, f"the build of {mosc} failed"))


def _mirror_conf(local: LocalCluster) -> str:
    return mirrors.registries_conf(local.base_image.rsplit(":", 1)[0])


def test_the_build_pulls_through_the_clusters_mirror(local: LocalCluster) -> None:
    _pool(local, "mirrored", ["amd64", "arm64"], {REGISTRIES_CONF_PATH: _mirror_conf(local)})
    mosb = succeeded(local, "mirrored")
    assert mosb["status"]["digestedImagePushSpec"].startswith(f"{local.registry.host}/ocl/")


def test_without_the_mirror_the_build_fails_naming_the_unreachable_registry(
    local: LocalCluster,
) -> None:
    _pool(local, "unmirrored", ["amd64"], {"/etc/motd": "no mirror here\n"})
    message = _failure(local, "unmirrored")
    assert "cannot reach registry quay.invalid" in message, message


def test_a_policy_rejecting_the_registry_fails_the_build_naming_the_policy(
    local: LocalCluster,
) -> None:
    files = {
        REGISTRIES_CONF_PATH: _mirror_conf(local),
        POLICY_JSON_PATH: mirrors.rejecting_policy(),
    }
    _pool(local, "rejected", ["amd64"], files)
    message = _failure(local, "rejected")
    assert "the cluster's policy.json (the signature policy) rejects" in message, message
    assert "registry quay.invalid" in message, message
