#!/usr/bin/env bash
# Set up a fresh machine: Java check, .venv with the locked project (uv.lock), Delta jars.
# Usage: bash scripts/setup.sh [--test]   (--test also installs Azurite and Chromium for the tests)
#
# Everything it fetches lands in the checkout (.tools/, .venv/, .jars/; all git-ignored),
# so a fresh clone re-proves every download and nothing in the home folder (~/.m2, ~/.ivy2*)
# can change the result.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
UV_VERSION=0.13.9

# Java 17+ (Spark 4 needs it). Read the version line itself: with JAVA_TOOL_OPTIONS set,
# `java -version` first prints "Picked up JAVA_TOOL_OPTIONS: ...".
command -v java >/dev/null 2>&1 || die "Java 17+ is required (no 'java' on PATH). On Debian: apt-get install openjdk-17-jre-headless"
java_line=$(java -version 2>&1 | grep -m1 ' version "' || true)
java_major=$(printf '%s' "$java_line" | sed -E 's/.* version "([0-9]+)(\.([0-9]+))?.*/\1/')
[ "$java_major" = 1 ] && java_major=$(printf '%s' "$java_line" | sed -E 's/.* version "1\.([0-9]+).*/\1/')
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || die "Java 17+ is required, found: ${java_line:-no version line from 'java -version'}"

# Python 3.11 (or PYTHON=...; 3.12 works too) and uv, pinned, in .tools/uv.
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || die "Python 3.11 or 3.12 is required ($PY not found; set PYTHON=...)"
UV=.tools/uv/bin/uv
case "$("$UV" --version 2>/dev/null)" in "uv $UV_VERSION"*) ;; *)
  say "installing uv $UV_VERSION into .tools/uv"
  rm -rf .tools/uv
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet --disable-pip-version-check --target .tools/uv "uv==$UV_VERSION" \
    || die "could not install uv $UV_VERSION from PyPI"
  ;; esac

# uv trusts the platform's certificates (SSL_CERT_FILE, the system store), as pip does, so a
# TLS-inspecting proxy's CA is honoured.
export UV_NATIVE_TLS=${UV_NATIVE_TLS:-1}
# The exact local set from uv.lock (--frozen: the lock is used as it is, never re-resolved),
# compiled to bytecode once here: uv installs none by default, and where Python may not
# write it (PYTHONDONTWRITEBYTECODE, read-only installs) every process compiled every module
# it imported again; Great Expectations' import took 15.8 s instead of 4.6 s (measured).
say "installing the locked project into .venv"
"$UV" sync --quiet --frozen --extra local --extra dev --python "$PY" --compile-bytecode \
  || die "could not install the locked environment (uv.lock) into .venv"
.venv/bin/python -m compileall -q -j 0 entrypoints expectations feature_store orchestration \
  pipelines schemas transformations >/dev/null || die "could not compile the project's modules"

# The Delta jars, resolved from Maven Central into .jars/ (pipelines/jars.py says why).
.venv/bin/python -m pipelines.jars

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
