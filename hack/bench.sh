#!/usr/bin/env bash
# The benchmarks (hack/bench/): sets up (idempotent), then runs them on the real control
# plane. Flags go to hack/bench/run.py, e.g. --only scale. Prints a table, writes JSON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/hack/setup.sh"
cd "$root" && exec "$root/.venv/bin/python" -m hack.bench.run "$@"
