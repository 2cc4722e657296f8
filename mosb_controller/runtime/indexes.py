"""What the build loop reads: live views of kopf's indexes, filled by `runtime.handlers`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api import MachineConfig, MachineConfigPool, MachineOSConfig
from mosb_controller.planning.observed import JobView, MosbView, PodView


@dataclass
class Indexes:
    """Live views of kopf's indexes (kopf keeps them current). Each maps a key to a
    store of values; `only()` takes the single value a key has."""

    # name → (uid, the parsed MOSC, or why it could not be parsed)
    moscs: Mapping[str, Iterable[tuple[str, MachineOSConfig | str]]] = field(default_factory=dict)
    mosbs: Mapping[str, Iterable[MosbView]] = field(default_factory=dict)  # by MOSC
    pools: Mapping[str, Iterable[tuple[str, MachineConfigPool]]] = field(default_factory=dict)
    configs: Mapping[str, Iterable[MachineConfig]] = field(default_factory=dict)
    jobs: Mapping[str, Iterable[JobView]] = field(default_factory=dict)  # by MOSC
    pods: Mapping[str, Iterable[PodView]] = field(default_factory=dict)  # by Job
    secrets: Mapping[str, Iterable[str]] = field(default_factory=dict)  # name → type
    # by MOSC: (name, the MOSB uid on its label) of each Secret copy; (name, owner uid) of
    # each inputs ConfigMap
    copies: Mapping[str, Iterable[tuple[str, str]]] = field(default_factory=dict)
    configmaps: Mapping[str, Iterable[tuple[str, str]]] = field(default_factory=dict)
    trust: Mapping[str, Iterable[Mapping[str, str]]] = field(default_factory=dict)  # CA data


def only(store: Iterable[Any] | None) -> Any:
    return next(iter(store), None) if store is not None else None
