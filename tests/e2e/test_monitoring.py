"""The monitoring component on the local cluster: the prometheus-operator's own CRDs (its Go
module at the pinned version, taken by hack/build-promtool.sh), then `kubectl apply -k
manifests/monitoring`. The API server validates the ServiceMonitor and PrometheusRule
against those schemas and prunes what they don't declare, so what reads back equal was
understood; the OpenShift overlay, which includes the component, passes a server dry run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import OSIMAGEURL_NAMESPACE
from hack import controlplane, kube_paths
from hack.localcluster import NAMESPACE
from tests.support.polling import require

MANIFESTS = kube_paths.ROOT / "manifests"
MONITORING = MANIFESTS / "monitoring"


def kubectl(plane: controlplane.ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def get(plane: controlplane.ControlPlane, kind: str, name: str) -> dict[str, Any]:
    done = kubectl(plane, "-n", NAMESPACE, "get", kind, name, "-o", "json")
    body: dict[str, Any] = json.loads(ok(done))
    return body


@pytest.fixture(scope="module")
def monitoring_crds(cluster: controlplane.ControlPlane) -> Iterator[Path]:
    crds = kube_paths.prometheus_operator_crds()
    require(
        [] if (crds / "monitoring.coreos.com_prometheusrules.yaml").exists() else [str(crds)],
        "run hack/setup.sh to take the pinned prometheus-operator CRDs",
    )
    ok(kubectl(cluster, "apply", "--server-side", "-f", str(crds)))
    kinds = ("servicemonitors", "prometheusrules")
    names = [f"crd/{kind}.monitoring.coreos.com" for kind in kinds]
    ok(kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s", *names))
    # The component lives in the operator's namespace (manifests/ creates it too).
    ok(kubectl(cluster, "apply", "--server-side", "-f", str(MANIFESTS / "rbac" / "namespace.yaml")))
    yield crds
    kubectl(cluster, "delete", "--ignore-not-found", "-k", str(MONITORING))


def test_apply_k_of_the_monitoring_component_succeeds_against_the_real_crds(
    cluster: controlplane.ControlPlane, monitoring_crds: Path
) -> None:
    out = ok(kubectl(cluster, "apply", "--server-side", "-k", str(MONITORING)))
    for applied in ("service/mosb-controller-metrics", "servicemonitor", "prometheusrule"):
        assert applied in out, out
    service = get(cluster, "service", "mosb-controller-metrics")
    assert service["spec"]["ports"][0]["port"] == 9090
    monitor = get(cluster, "servicemonitor.monitoring.coreos.com", "mosb-controller")
    endpoint = {"port": "metrics", "path": "/metrics", "interval": "30s"}
    assert monitor["spec"]["endpoints"] == [endpoint]
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["metadata"]["labels"].items()  # it selects the Service
    rule = get(cluster, "prometheusrule.monitoring.coreos.com", "mosb-controller")
    written = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]
    assert rule["spec"] == written  # nothing pruned: the schema knows every field


def test_the_crds_refuse_a_rule_prometheus_would_not_load(
    cluster: controlplane.ControlPlane, monitoring_crds: Path
) -> None:
    """The schema is the real one: a malformed duration is refused, not stored."""
    bad = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "mosb-bad", "namespace": NAMESPACE},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "1", "for": "soon"}]}]},
    }
    done = subprocess.run(
        [kube_paths.kubectl(), f"--kubeconfig={cluster.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(bad),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "spec.groups[0].rules[0].for" in done.stderr, done.stderr


def test_the_openshift_overlay_with_monitoring_passes_a_server_dry_run(
    cluster: controlplane.ControlPlane, monitoring_crds: Path
) -> None:
    overlay = str(MANIFESTS / "openshift")
    # OpenShift's namespaces the overlay's Roles live in: the MCO's (its osimageurl
    # ConfigMap), openshift-config (the global pull secret) and openshift-config-managed
    # (the entitlement).
    for namespace in (OSIMAGEURL_NAMESPACE, "openshift-config", "openshift-config-managed"):
        kubectl(cluster, "create", "namespace", namespace)  # may exist already
    out = ok(kubectl(cluster, "apply", "--server-side", "--dry-run=server", "-k", overlay))
    for applied in (
        "machineosconfigs.machineconfiguration.mosb-controller.io",
        "role.rbac.authorization.k8s.io/mosb-controller-osimageurl",
        "servicemonitor",
        "prometheusrule",
        "role.rbac.authorization.k8s.io/prometheus-k8s",
    ):
        assert applied in out, out
