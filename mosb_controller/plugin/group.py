"""Which API group's MachineOSConfigs the plugin acts on: upstream's in builder mode, ours
in alongside-mco mode (the same kinds, schema-identical, in a group of our domain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from api import EXTENSION_GROUP, GROUP


def is_ours(group: str) -> bool:
    return group == EXTENSION_GROUP  # api.names: the alongside-mco mode's group


def choose_group(served: Sequence[str], has_mosc: Callable[[str], bool]) -> str:
    """Ours when its CRDs are served and it holds the MachineOSConfig (alongside-mco),
    else upstream's; with neither served, upstream's (the caller then says what is
    missing). `has_mosc(group)` answers for the MachineOSConfig asked for."""
    ours = [g for g in served if is_ours(g)]
    for group in ours:
        if has_mosc(group):
            return group
    return GROUP if GROUP in served or not ours else ours[0]
