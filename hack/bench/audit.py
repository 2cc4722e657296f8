"""The operator's own API requests, read from the API server's audit log.

hack/controlplane.py audits only the operator's identity, at Metadata level, one line per
finished request (watches log when they end). Times are the server's, to the microsecond.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Request:
    time: float  # epoch seconds the response completed
    verb: str  # create, patch, update, delete, get, list, watch
    resource: str  # jobs, machineosbuilds, ...
    subresource: str
    namespace: str
    name: str
    code: int
    latency: float = 0.0  # seconds from the API server receiving it to the response

    @property
    def is_write(self) -> bool:
        return self.verb in ("create", "update", "patch", "delete", "deletecollection")

    @property
    def kind(self) -> str:
        """E.g. `patch machineosbuilds/status`, for tables."""
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {self.resource}{sub}"


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def requests(log: Path) -> list[Request]:
    found = []
    with log.open() as lines:
        for line in lines:
            entry = json.loads(line)
            if entry.get("stage") != "ResponseComplete":
                continue
            ref = entry.get("objectRef") or {}
            done = _epoch(entry["stageTimestamp"])
            found.append(
                Request(
                    time=done,
                    latency=done
                    - _epoch(entry.get("requestReceivedTimestamp") or entry["stageTimestamp"]),
                    verb=entry.get("verb", ""),
                    resource=ref.get("resource", ""),
                    subresource=ref.get("subresource", ""),
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    code=int((entry.get("responseStatus") or {}).get("code") or 0),
                )
            )
    return found


def between(found: Iterable[Request], start: float, end: float) -> Iterator[Request]:
    # Long-running watches are logged when they end, which says nothing about this window.
    return (r for r in found if start <= r.time <= end and r.verb != "watch")


def tally(found: Iterable[Request]) -> dict[str, int]:
    """Requests by kind, most frequent first."""
    return dict(Counter(r.kind for r in found).most_common())


def summary(found: Iterable[Request]) -> dict[str, int]:
    """Counts of the operator's work; leader election's Lease heartbeat counted apart
    (a get and an update every retry period, whatever the cluster does)."""
    everything = list(found)
    listed = [r for r in everything if r.resource != "leases"]
    return {
        "lease_heartbeat": len(everything) - len(listed),
        "requests": len(listed),
        "writes": sum(r.is_write for r in listed),
        "lists": sum(r.verb == "list" for r in listed),
        "gets": sum(r.verb == "get" for r in listed),
        "conflicts": sum(r.code == 409 for r in listed),
    }


def creates(found: Iterable[Request], resource: str) -> list[Request]:
    return [r for r in found if r.verb == "create" and r.resource == resource and r.code < 300]
