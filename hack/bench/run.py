"""Runs the benchmarks, prints a table and writes the figures as JSON.

    hack/bench.sh [--only overhead,economy,rebuilds,scale,arch,push] [--json FILE]

By default the four suites of the controller's cost (arch and push run on request).

Everything runs on this machine's real control plane (see hack/localcluster.py); nothing
here asserts a time: the figures go into the README with the machine they were taken on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hack import bases, bench_arch, bench_push
from hack.bench import economy, overhead, rebuilds, scale

ROOT = Path(__file__).resolve().parents[2]

# The operator's default lease timings, not the tests' short ones (hack/operatorproc.py):
# the Lease heartbeat is counted in the figures.
for _knob, _value in (("LEASE_DURATION", "15"), ("RENEW_DEADLINE", "10"), ("RETRY_PERIOD", "2")):
    os.environ.setdefault(f"MOSB_LEADER_ELECTION_{_knob}_SECONDS", _value)


def _arch() -> dict[str, Any]:
    """The architecture record's latency (hack/bench_arch.py) at 1,000 and 5,000 nodes."""
    with tempfile.TemporaryDirectory(prefix="mosb-bench-") as tmp:
        return {str(n): bench_arch.run_size(n, 50, Path(tmp)) for n in (1000, 5000)}


def _push() -> dict[str, Any]:
    """The push step alone (hack/bench_push.py)."""
    with tempfile.TemporaryDirectory(prefix="mosb-bench-") as tmp:
        out = Path(tmp) / "push.json"
        if bench_push.main(["--json", str(out)]) != 0:
            raise RuntimeError("hack/bench_push.py failed")
        return {"runs": json.loads(out.read_text())}


DEFAULT = "overhead,economy,rebuilds,scale"
SUITES: dict[str, Callable[[], dict[str, Any]]] = {
    "overhead": lambda: {
        "real": overhead.run(),
        "fixed_10s": overhead.run(build_seconds=10),
    },
    "economy": economy.run,
    "rebuilds": rebuilds.run,
    "scale": scale.run,
    "arch": _arch,
    "push": _push,
}


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=DEFAULT, help=f"comma-separated, of {sorted(SUITES)}")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "results.json")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {sorted(SUITES)}")
    missing = bases.run_steps_missing()
    if missing and {"overhead", "rebuilds"} & set(chosen):  # their real builds have RUN steps
        parser.error(f"RUN steps cannot run here: missing {', '.join(missing)}; {bases.SETUP_HINT}")
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%FT%TZ")}
    if args.json.exists():  # keep the other suites' last figures
        results = {**json.loads(args.json.read_text()), **results}
    for name in chosen:
        print(f"== {name}", flush=True)
        began = time.monotonic()
        results[name] = SUITES[name]()
        results[name]["wall_s"] = round(time.monotonic() - began, 1)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(render(name, results[name]), flush=True)
    print(f"figures written to {args.json}")
    return 0


def render(name: str, figures: dict[str, Any]) -> str:
    """A flat two-column table of one suite's figures."""
    rows = list(_flatten(figures))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def _flatten(value: Any, prefix: str = "") -> Any:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}[{i}]")
    else:
        yield prefix, value


if __name__ == "__main__":
    sys.exit(main())
