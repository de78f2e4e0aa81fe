#!/usr/bin/env bash
# Set up (as scripts/setup.sh --test) and run the checks: ruff, import contracts, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
