#!/usr/bin/env bash
# Set up a fresh machine: Java check, .venv with the pinned project, Delta jars in ~/.m2.
# Usage: bash scripts/setup.sh [--test]   (--test also installs Azurite and Chromium for the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Java 17+ (Spark 4 needs it).
command -v java >/dev/null 2>&1 || die "Java 17+ is required (no 'java' on PATH). On Debian: apt-get install openjdk-17-jre-headless"
java_major=$(java -version 2>&1 | head -1 | sed -E 's/.*version "([0-9]+)(\.([0-9]+))?.*/\1/')
[ "$java_major" -ge 17 ] 2>/dev/null || die "Java 17+ is required, found: $(java -version 2>&1 | head -1)"

# Python 3.11 virtual environment with the pinned project.
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || die "Python 3.11 is required ($PY not found; set PYTHON=...)"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
say "installing the project and its pinned dependencies into .venv"
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'

# Delta Lake jars from Maven Central into ~/.m2, where Spark's resolver looks first.
delta_pkg=$(.venv/bin/python -c 'from pipelines.spark import delta_package; print(delta_package())')
if command -v mvn >/dev/null 2>&1; then
  say "fetching $delta_pkg into ~/.m2"
  mvn -q dependency:get -Dartifact="$delta_pkg" >/dev/null 2>&1 \
    || say "mvn could not fetch $delta_pkg; Spark will resolve it from Maven Central itself"
else
  say "no mvn: Spark will resolve $delta_pkg from Maven Central on first start"
fi

if [ "${1:-}" = "--test" ]; then
  # Azurite (Azure Storage emulator) for the ADLS tests; 3.35.0 is the last release for Node 20.
  if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
    if command -v npm >/dev/null 2>&1; then
      say "installing azurite@3.35.0 into .tools/"
      npm install --silent --no-audit --no-fund --prefix .tools azurite@3.35.0 >/dev/null 2>&1 \
        || say "could not install Azurite; the ADLS tests will be skipped"
    else
      say "no npm: the ADLS tests will be skipped"
    fi
  fi
  # Debian's Chromium for the UI screenshot test.
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing chromium (Debian) for the screenshot test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || say "could not install chromium; the screenshot test will be skipped"
  fi
fi
say "ready"
