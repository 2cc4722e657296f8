"""Compare the operator's RBAC (manifests/rbac) with what it really asked the API server
(the control plane's audit log of its ServiceAccount): what was refused, what is granted
but never used."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from api import Mode
from hack.operatoridentity import ALONGSIDE_RBAC, RBAC_DIR


@dataclass(frozen=True)
class Grant:
    namespace: str  # "" for a ClusterRole (any namespace, or cluster-scoped)
    group: str
    resource: str  # with "/subresource" if any
    verb: str


@dataclass(frozen=True)
class Request:
    namespace: str
    group: str
    resource: str
    verb: str
    code: int

    def allowed_by(self, grant: Grant) -> bool:
        return (grant.namespace in ("", self.namespace)) and (
            grant.group,
            grant.resource,
            grant.verb,
        ) == (self.group, self.resource, self.verb)


def grants(rbac_dir: Path = RBAC_DIR, mode: Mode = Mode.BUILDER) -> set[Grant]:
    """Every (namespace, group, resource, verb) the Roles and ClusterRoles grant (in
    alongside-mco, the OpenShift overlay's ClusterRole instead of rbac_dir's, and its Role)."""
    paths = sorted(rbac_dir.glob("*.yaml"))
    if mode is Mode.ALONGSIDE_MCO:
        paths = [p for p in paths if p.name != "clusterrole.yaml"] + list(ALONGSIDE_RBAC)
    return grants_in(paths)


def grants_in(paths: Iterable[Path]) -> set[Grant]:
    found = set()
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Role", "ClusterRole"):
                continue
            namespace = doc["metadata"].get("namespace", "") if doc["kind"] == "Role" else ""
            for rule in doc.get("rules") or []:
                for group in rule.get("apiGroups") or []:
                    for resource in rule.get("resources") or []:
                        for verb in rule.get("verbs") or []:
                            found.add(Grant(namespace, group, resource, verb))
    return found


def requests(audit_log: Path, skip: int = 0) -> list[Request]:
    """The resource requests in the audit log (its policy logs only the operator), after
    its first `skip` lines (`lines()` before a scenario: only that scenario's)."""
    found = []
    for line in audit_log.read_text().splitlines()[skip:]:
        event = json.loads(line)
        ref = event.get("objectRef")
        if not ref or "resource" not in ref:
            continue  # discovery and other non-resource URLs
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        found.append(
            Request(
                namespace=ref.get("namespace", ""),
                group=ref.get("apiGroup", ""),
                resource=resource,
                verb=event["verb"],
                code=int((event.get("responseStatus") or {}).get("code", 0)),
            )
        )
    return found


def lines(audit_log: Path) -> int:
    return len(audit_log.read_text().splitlines()) if audit_log.exists() else 0


def refused(made: Iterable[Request], granted: Iterable[Grant]) -> set[Request]:
    """Requests refused that no grant covers: a permission the operator lacks. (A 403
    for a granted request happens while a restarted API server's authorizer has not
    synced its caches yet: the fault tests restart it mid-build.)"""
    granted = list(granted)
    return {r for r in made if r.code == 403 and not any(r.allowed_by(g) for g in granted)}


def unused(granted: Iterable[Grant], made: Iterable[Request]) -> set[Grant]:
    made = [r for r in made if r.code != 403]
    return {g for g in granted if not any(r.allowed_by(g) for r in made)}
