"""The operator's memory settings (runtime/memory.py), in a fresh interpreter: they are
process-wide, and this test process must keep CPython's defaults."""

from __future__ import annotations

import platform
import subprocess
import sys

from mosb_controller.runtime import memory

PROBE = """
import gc
from mosb_controller.runtime import memory
before = gc.get_threshold()[0]
memory.tune()
print(before, gc.get_threshold()[0], gc.get_freeze_count() > 0, memory.limit_malloc_arenas())
"""


def test_tune_raises_the_first_generation_freezes_the_startup_heap_and_limits_arenas() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    before, after, frozen, arenas = done.stdout.split()
    assert int(before) < memory.FIRST_GENERATION == int(after)
    assert frozen == "True"
    # glibc takes the limit; another C library has no arenas to limit
    assert arenas == str(platform.libc_ver()[0] == "glibc")
