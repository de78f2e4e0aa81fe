"""The wheel on a stand-in for Databricks Runtime 17.3 LTS: Python 3.12, Spark 4.0, Delta 4.0.

A cluster has its runtime's PySpark and Delta before any library is installed; the
wheel then goes on top, without extras. This builds that order in a Python 3.12 virtual
environment: `pyspark==4.0.*` and `delta-spark==4.0.*` first, then the project's wheel.
The wheel must leave them as they are, and every module must import without the extras.

Then the bundle's three tasks run there as the Jobs service runs them: separate
processes (that environment's console scripts) with the task parameters from
resources/lakehouse.job.yml, in dependency order, each only if its `run_if` holds, on
the contract example with its late file (one job run: each task is a JVM of its own, and
a second run for the late file would double the time). Every gold table and
features/user_features must then equal expected/.

The tasks start a local Spark 4.0 (DATABRICKS_RUNTIME_VERSION is not set: no runtime
here), whose Delta 4.0 jars pipelines/jars.py resolves once into the checkout's .jars/.
The tables are read back with delta-rs from this test's environment: no second JVM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from bundle_testing import (
    JOB,
    REPO,
    UV,
    load_bundle,
    project_wheel,
    run_job,
    task_parameters,
    uv_env,
    variable_values,
)
from lakehouse_testing import assert_rows_match, copy_landing, expected_rows
from test_contract_examples import GOLD_KEYS

from orchestration.delta_rs import read_table
from schemas.tables import FEATURES_TABLE, GOLD, GOLD_TABLES, PENDING_TABLE, USER_FEATURES

pytestmark = pytest.mark.slow

# What DBR 17.3 LTS ships (its release notes): Python 3.12, Spark 4.0, Delta Lake 4.0.
RUNTIME_PYTHON = "3.12"
RUNTIME_PACKAGES = {"pyspark": "4.0", "delta-spark": "4.0"}
RUNTIME_OWNED = ("pyspark", "delta-spark", "py4j")  # what the wheel must not replace
EXTRAS_ONLY = ("dagster", "dagster-webserver", "dagster-pyspark", "deltalake", "pytest")
GATED_DATE = "2026-10-22"  # the example's date that fails the 25% gate (summary.json)
# A line each task prints for a check of its steps that passed (entrypoints/databricks_tasks).
CHECKS_RUN = {
    "bronze_silver": "silver/api_requests:gx_suite: passed",
    "gold": "gold/daily_active_users:reconciles_with_silver: passed",
    "features": "features/user_features:gx_suite: passed",
}

VERSIONS = """
import json, sys
from importlib.metadata import distributions
names = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in distributions()}
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "packages": names}))
"""

# Every module of the wheel but the Dagster code location (orchestration/ needs the
# `orchestration` extra): a missing core dependency or a 3.12-only failure shows here.
IMPORT_ALL = """
import importlib, pkgutil
failed = {}
for name in ("entrypoints", "pipelines", "transformations", "schemas", "expectations",
             "feature_store"):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        try:
            importlib.import_module(module.name)
        except Exception as error:
            failed[module.name] = repr(error)
print(failed or "all imported")
"""


@dataclass(frozen=True)
class Runtime:
    venv: Path
    before: dict  # {"python": "3.12", "packages": {name: version}} before the wheel
    after: dict  # and after it

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.venv / "bin" / name


def python_312() -> str:
    """A Python 3.12 interpreter: pyenv's, else one on PATH, else let uv find or fetch one."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        found = sorted(Path(root).glob(f"versions/{RUNTIME_PYTHON}.*/bin/python{RUNTIME_PYTHON}"))
        if found:
            return str(found[-1])
    on_path = shutil.which(f"python{RUNTIME_PYTHON}")
    if on_path and subprocess.run([on_path, "-V"], capture_output=True).returncode == 0:
        return on_path  # (pyenv's bare shim refuses without PYENV_VERSION, hence the check)
    return RUNTIME_PYTHON


def uv(*args: str, cwd: Path) -> None:
    """uv outside the project: with --no-config (and a neutral folder), the checkout's
    [tool.uv] constraints (pyspark==4.2.0, delta-spark==4.4.0) do not apply here."""
    command = [str(UV), "--no-config", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=uv_env(), cwd=cwd)
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stderr[-3000:]}"


def installed(python: Path) -> dict:
    done = subprocess.run([str(python), "-c", VERSIONS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """The runtime stand-in with the wheel installed on top, built fresh for each session."""
    assert UV.exists(), f"{UV} is missing: run `bash scripts/setup.sh` first"
    wheel = project_wheel(tmp_path_factory)
    base = tmp_path_factory.mktemp("dbr-17.3")
    venv = base / "venv"
    uv("venv", "--quiet", "--python", python_312(), str(venv), cwd=base)
    python = venv / "bin" / "python"
    pins = [f"{name}=={line}.*" for name, line in RUNTIME_PACKAGES.items()]
    # Compiled to bytecode, as a runtime image's packages are and as pip compiles a library
    # it installs: each task process would compile every module it imports otherwise.
    install = ("pip", "install", "--quiet", "--compile-bytecode", "--python", str(python))
    uv(*install, *pins, cwd=base)
    before = installed(python)
    # As a cluster installs a task library: into the runtime's environment, no extras.
    uv(*install, str(wheel), cwd=base)
    return Runtime(venv, before, installed(python))


def test_the_wheel_installs_beside_the_runtime_and_leaves_it_alone(runtime: Runtime):
    assert runtime.before["python"] == RUNTIME_PYTHON
    before, after = runtime.before["packages"], runtime.after["packages"]
    for name, line in RUNTIME_PACKAGES.items():
        assert before[name].startswith(line + "."), (name, before[name])
    assert {n: after.get(n) for n in RUNTIME_OWNED} == {n: before[n] for n in RUNTIME_OWNED}
    assert "techventure-lakehouse" in after
    assert not set(EXTRAS_ONLY) & set(after), sorted(set(EXTRAS_ONLY) & set(after))

    imported = subprocess.run(
        [str(runtime.python), "-c", IMPORT_ALL], capture_output=True, text=True, cwd=runtime.venv
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.strip() == "all imported", imported.stdout


def task_env(jars: Path) -> dict[str, str]:
    """This machine's environment without anything of the project's or of a Databricks
    runtime: the tasks get only the bundle's parameters (and a small driver, a cached
    jar folder)."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SPARK_HOME", "SPARK_REMOTE")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("LAKEHOUSE_", "PYSPARK_", "DATABRICKS_"))
    }
    env["LAKEHOUSE_JARS_DIR"] = str(jars)
    env["LAKEHOUSE_SPARK_CONF"] = "spark.driver.memory=1g"
    return env


@dataclass
class TaskRun:
    code: int
    stdout: str
    stderr: str


def run_bundle_job(runtime: Runtime, values: dict[str, str], cwd: Path) -> dict[str, TaskRun]:
    """One run of the bundle's job: each task as its own process, as a wheel task runs."""
    runs: dict[str, TaskRun] = {}

    def launch(task: dict) -> int:
        spec = task["python_wheel_task"]
        done = subprocess.run(
            [str(runtime.script(spec["entry_point"])), *task_parameters(task, values)],
            capture_output=True,
            text=True,
            env=task_env(REPO / ".jars"),
            cwd=cwd,
            timeout=1800,
        )
        runs[task["task_key"]] = TaskRun(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, f"{task['task_key']}:\n{done.stderr[-4000:]}"
        return done.returncode

    codes = run_job(load_bundle()["jobs"][JOB], launch)
    failed = {k: c for k, c in codes.items() if c != 0}
    assert not failed, f"tasks that failed or did not run: {failed}\n" + "\n".join(
        f"--- {key} (exit {runs[key].code}):\n{runs[key].stderr[-2500:]}"
        for key in failed
        if key in runs
    )
    return runs


def delta_rows(path: Path) -> list[dict]:
    return read_table(str(path)).to_pylist()


def test_the_bundle_job_on_the_runtime_gives_the_contract_example(
    runtime: Runtime, examples_dir: Path, tmp_path: Path
):
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    values = variable_values(load_bundle(), landing=str(landing), lakehouse_root=str(root))
    (tmp_path / "work").mkdir()

    runs = run_bundle_job(runtime, values, tmp_path / "work")
    # The held-back date is named, and is no failure of the task: gold and features ran.
    assert f"gate failed for ingest date {GATED_DATE}" in runs["bronze_silver"].stderr
    # Each task ran its steps' GX checks on Spark 4.0, and they passed.
    for key, marker in CHECKS_RUN.items():
        assert marker in runs[key].stdout, f"{key}: no {marker!r}\n{runs[key].stdout[-2000:]}"

    expected = examples_dir / "expected"
    for table, schema in GOLD.items():
        assert_rows_match(
            delta_rows(root / GOLD_TABLES[table]),
            expected_rows(expected / f"gold__{table}.csv", schema),
            GOLD_KEYS[table],
        )
    assert_rows_match(
        delta_rows(root / FEATURES_TABLE),
        expected_rows(expected / "features__user_features.csv", USER_FEATURES),
        ["as_of_date", "user_id"],
    )
    # Gold and features consumed every queued date.
    assert delta_rows(root / PENDING_TABLE) == []
