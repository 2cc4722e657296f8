"""The cyclic garbage collector, set for an operator that decodes a stream of watch events.

Why: every watch event is decoded into fresh dicts and lists, so the collector's first
generation, at CPython's default of 700 new containers, ran about 3,000 times in the
scale benchmark (2,000 nodes, 50 MachineOSConfigs created and then edited at once), and
every tenth of those promoted survivors until a full collection walked the whole heap:
about 24 of those, at ~200 ms each. Measured through `gc.callbacks`: 7.4 of the
operator's 41 CPU-seconds were the collector's, counted inside the JSON decoding of kopf's
watch streams, which the profile (py-spy) showed at 29 % of the operator's time.

With the first generation at 10,000 the same run spent 2.9 s in the collector (one full
collection) and the operator's CPU in the rounds fell from 28 to 30 to about 24 s, with
peak RSS unchanged within the runs' noise: an event's objects are mostly freed by
reference counting, so a larger first generation holds little more.

`gc.freeze()` moves everything alive at startup (modules, classes, the API client's
models: ~75,000 objects) out of the collector's reach; none of it is ever garbage.
"""

from __future__ import annotations

import gc

FIRST_GENERATION = 10_000  # new containers between collections (CPython's default: 700)


def tune() -> None:
    """Call once, after the imports and before the watches start."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION, second, third)
