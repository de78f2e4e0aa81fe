#!/usr/bin/env bash
# Set up (as scripts/setup.sh --test) and run the checks: ruff, import contracts, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
# Two worker processes (one per core here), one test file at a time each; xdist hands out
# the files with the most tests first (measured quickest of the orders tried, bench/README).
# `-n 0` after these runs everything in one process.
exec .venv/bin/pytest -n 2 --dist loadfile "$@"
