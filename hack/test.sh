#!/usr/bin/env bash
# The test command: sets up (idempotent) and runs lint, types, the import contracts
# (.importlinter) and every test suite.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -x`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/setup.sh
export PATH="$root/.venv/bin:$PATH"
echo "== ruff"; ruff check .; ruff format --check .
echo "== mypy"; mypy
echo "== import contracts"
if ! contracts=$(lint-imports 2>&1); then echo "$contracts"; exit 1; fi
echo "$contracts" | sed -n '/^Contracts:/p'
echo "== pytest"; pytest "$@"
