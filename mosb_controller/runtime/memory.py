"""The operator process's memory machinery, set once at startup for a process that decodes
a stream of watch events under the GIL: CPython's cyclic collector and glibc's malloc.

The collector. Every watch event is decoded into fresh dicts and lists, so the first
generation, at CPython's default of 700 new containers, ran about 3,000 times in the scale
benchmark (2,000 nodes, 50 MachineOSConfigs created and then edited at once), and every
tenth of those promoted survivors until a full collection walked the whole heap: about 24
of those, at ~200 ms each. Measured through `gc.callbacks`: 7.4 of the operator's 41
CPU-seconds were the collector's, counted inside the JSON decoding of kopf's watch
streams, which the profile (py-spy) showed at 29 % of the operator's time. With the first
generation at 10,000 the same run spent 2.9 s in it (one full collection): an event's
objects are freed by reference counting, so a larger first generation holds little more.
`gc.freeze()` moves what is alive at startup (modules, classes, the API client's models:
~75,000 objects) out of its reach; none of it is ever garbage.

malloc. glibc gives each thread that allocates its own arena (up to 8 per core), and an
arena keeps what it freed. The operator runs ~60 threads (API calls, reports, registry
questions), which the GIL lets allocate only one at a time, so more arenas buy nothing
but memory that is not handed back. Measured: the scale benchmark's peak RSS in three runs
of the code just before this limit, 149.7/157.9/159.9 MB, and just after, 156.4/152.2/
151.8 MB: a small gain, inside the runs' spread.
"""

from __future__ import annotations

import ctypes
import gc

FIRST_GENERATION = 10_000  # new containers between collections (CPython's default: 700)
MALLOC_ARENAS = 2  # glibc's default: 8 per core
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)


def tune() -> None:
    """Call once, after the imports and before any thread or watch starts."""
    limit_malloc_arenas()
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION, second, third)


def limit_malloc_arenas() -> bool:
    """glibc only (False elsewhere: nothing to set). Arenas made before it are kept."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or not glibc's
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
