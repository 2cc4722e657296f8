#!/usr/bin/env bash
# The main job on the local default: sets up (idempotent), then runs hack/demo.py.
# Flags go to the demo (e.g. --once, --nodes-per-arch 3). Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/hack/setup.sh"
cd "$root" && exec "$root/.venv/bin/python" -m hack.demo "$@"
