#!/usr/bin/env bash
# Set up, generate sample landing data and run the whole pipeline on a local lakehouse.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAKEHOUSE_LANDING=${LAKEHOUSE_LANDING:-local/landing}
export LAKEHOUSE_ROOT=${LAKEHOUSE_ROOT:-local/lakehouse}
.venv/bin/lakehouse generate --landing "$LAKEHOUSE_LANDING" --days 5 --records 50000 --seed 42
.venv/bin/lakehouse run --landing "$LAKEHOUSE_LANDING" --lakehouse "$LAKEHOUSE_ROOT"
