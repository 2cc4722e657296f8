"""The plugin finds the group that serves the MachineOSConfig, against the real API
server: upstream's (builder mode), or a group of our domain serving the same kinds
(alongside-mco mode; here the upstream CRDs served again under that group)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from api import GROUP, MACHINE_OS_BUILDS, MACHINE_OS_CONFIGS, VERSION
from hack import controlplane
from mosb_controller.cluster.operate import Operate
from mosb_controller.plugin.commands import PluginError, Target
from mosb_controller.plugin.main import main
from tests.support.factories import mosc_body
from tests.support.polling import delete_quietly, eventually

OURS = "machineconfiguration.mosb-controller.io"
CRDS = Path(__file__).parents[2] / "manifests" / "crds"


def _ours(plural: str) -> dict[str, Any]:
    crd: dict[str, Any] = copy.deepcopy(yaml.safe_load((CRDS / f"{plural}.yaml").read_text()))
    crd["spec"]["group"] = OURS
    crd["metadata"] = {"name": f"{plural}.{OURS}"}
    return crd


@pytest.fixture(scope="module")
def both(api_client: kubernetes.client.ApiClient) -> Iterator[Operate]:
    """Our group served, with MachineOSConfig `ours` in it and `theirs` upstream."""
    ext = kubernetes.client.ApiextensionsV1Api(api_client)
    custom = kubernetes.client.CustomObjectsApi(api_client)
    made = []  # the session may serve our group already (manifests/crds/extension)
    for plural in (MACHINE_OS_CONFIGS, MACHINE_OS_BUILDS):
        crd: Any = _ours(plural)  # the client takes the object as JSON too
        try:
            ext.create_custom_resource_definition(crd)
            made.append(plural)
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
    ops = Operate(api_client, "default")
    eventually(lambda: OURS in ops.groups_serving_mosc(), 30, what="our group served")
    custom.create_cluster_custom_object(
        OURS, VERSION, MACHINE_OS_CONFIGS, {**mosc_body(name="ours"), "apiVersion": f"{OURS}/v1"}
    )
    custom.create_cluster_custom_object(
        GROUP, VERSION, MACHINE_OS_CONFIGS, mosc_body(name="theirs")
    )
    yield ops
    delete_quietly(
        custom.delete_cluster_custom_object, GROUP, VERSION, MACHINE_OS_CONFIGS, "theirs"
    )
    delete_quietly(custom.delete_cluster_custom_object, OURS, VERSION, MACHINE_OS_CONFIGS, "ours")
    for plural in made:
        delete_quietly(ext.delete_custom_resource_definition, f"{plural}.{OURS}")


def test_discovery_picks_the_group_holding_the_mosc(both: Operate) -> None:
    assert sorted(both.groups_serving_mosc()) == sorted([GROUP, OURS])
    assert Target(both, "ours", None).group == OURS
    assert Target(both, "theirs", None).group == GROUP
    with pytest.raises(PluginError, match=f"MachineOSConfig ours not found in {GROUP}"):
        Target(both, "ours", GROUP).current()  # --group wins over discovery
    unnamed = Target(both, None, None)  # our group holds one MachineOSConfig: that one
    assert (unnamed.group, unnamed.name) == (OURS, "ours")


def test_status_in_our_group(
    both: Operate, control_plane: controlplane.ControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "ours", "--kubeconfig", str(control_plane.kubeconfig)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown == [f"MachineOSConfig  ours  ({OURS})", "MachineOSBuild   none yet"]
    assert main(["status", "nosuch", "--kubeconfig", str(control_plane.kubeconfig)]) == 2
    assert "MachineOSConfig nosuch not found" in capsys.readouterr().err
