"""The Databricks bundle: its structure, the wheel it deploys, and its tasks started from it.

The wheel is built from a copy of the sources and installed into a folder of its own, and
each task starts the way a python_wheel_task does: the entry point is looked up in the
wheel's metadata and called with the task's parameters from the bundle (variables replaced
by local folders). tests/test_databricks_runtime.py runs the whole job from the wheel, in
the order and under the `run_if` conditions the Jobs service applies, on a Spark 4.0 /
Python 3.12 stand-in for Databricks Runtime 17.3 LTS.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import zipfile
from importlib import import_module
from itertools import pairwise
from pathlib import Path

import pytest
from bundle_testing import (
    JOB,
    SERVERLESS_JOB,
    UV,
    VARIABLE,
    load_bundle,
    project_wheel,
    run_job,
    strings,
    task_parameters,
    tasks_of,
    uv_env,
    variable_values,
)

from pipelines.spark import SESSION_CONF

TASK_ORDER = ["bronze_silver", "gold", "features"]
WHEEL = "../dist/*.whl"  # what `python -m build --wheel` writes, relative to resources/
GATE_FLAG = "--exit-zero-on-gate-failure"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


# --- the bundle as data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> dict:
    return load_bundle()


@pytest.fixture(scope="module")
def job(bundle: dict) -> dict:
    # resources/maintenance.job.yml adds the weekly maintenance job (tests/test_maintenance.py).
    assert sorted(bundle["jobs"]) == sorted([JOB, SERVERLESS_JOB, "lakehouse_maintenance_job"])
    return bundle["jobs"][JOB]


@pytest.fixture(scope="module")
def serverless(bundle: dict) -> dict:
    return bundle["jobs"][SERVERLESS_JOB]


def resolved(bundle: dict, target: str) -> dict[str, object]:
    """The variables' values in a target: defaults, then the target's overrides."""
    values = {name: spec.get("default") for name, spec in bundle["variables"].items()}
    values.update(bundle["targets"][target].get("variables", {}))
    return values


def test_targets_dev_and_prod(bundle: dict):
    assert bundle["bundle"]["name"] == "techventure_lakehouse"
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    # The dev copy must never touch production data, and its schedules stay paused.
    dev = resolved(bundle, "dev")
    for name in ("landing", "lakehouse_root"):
        assert dev[name] != bundle["variables"][name]["default"]
    assert dev["schedule_pause_status"] == dev["serverless_schedule_pause_status"] == "PAUSED"


def test_prod_runs_as_a_service_principal_with_group_permissions(bundle: dict):
    prod = bundle["targets"]["prod"]
    # Who runs and who may do what: variables (names, looked up or passed in), no literals.
    assert VARIABLE.fullmatch(prod["run_as"]["service_principal_name"])
    assert "lookup" in prod["variables"]["run_as_service_principal"]
    levels = {}
    for grant in prod["permissions"]:
        (principal,) = [k for k in grant if k != "level"]
        assert VARIABLE.fullmatch(grant[principal]), grant
        levels[principal, grant[principal]] = grant["level"]
    assert levels == {
        ("group_name", "${var.admins_group}"): "CAN_MANAGE",
        ("group_name", "${var.operators_group}"): "CAN_RUN",
        ("service_principal_name", "${var.run_as_service_principal}"): "CAN_MANAGE",
    }
    assert "run_as" not in bundle["targets"]["dev"]  # dev runs as the developer


def test_variables_are_defined_and_locations_are_abfss(bundle: dict):
    defined = set(bundle["variables"])
    used = {m for text in strings(bundle) for m in VARIABLE.findall(text)}
    assert used <= defined, f"undefined variables: {sorted(used - defined)}"
    for target in bundle["targets"].values():
        assert set(target.get("variables", {})) <= defined
    locations = [bundle["variables"][n]["default"] for n in ("landing", "lakehouse_root")]
    locations += [bundle["targets"]["dev"]["variables"][n] for n in ("landing", "lakehouse_root")]
    assert all(loc.startswith("abfss://") for loc in locations)


def test_job_shape(bundle: dict, job: dict):
    tasks = tasks_of(job)
    assert list(tasks) == TASK_ORDER
    for before, after in pairwise(TASK_ORDER):
        assert tasks[after]["depends_on"] == [{"task_key": before}]
        # A failed task (a blocking check: exit 3, a crash) stops every task after it.
        assert tasks[after].get("run_if", "ALL_SUCCESS") == "ALL_SUCCESS"
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    for task in tasks.values():
        assert task["job_cluster_key"] in clusters
        # The deployed wheel: the artifact that `python -m build --wheel` writes to dist/.
        assert task["libraries"] == [{"whl": WHEEL}]
    assert bundle["artifacts"]["lakehouse_wheel"]["build"] == "python -m build --wheel"
    # Every job cluster of the bundle gets the settings every local session gets
    # (pipelines/spark.py).
    for each in bundle["jobs"].values():
        for cluster in each.get("job_clusters", []):
            conf = cluster["new_cluster"]["spark_conf"]
            assert {k: str(v) for k, v in conf.items() if k in SESSION_CONF} == SESSION_CONF
    assert job["schedule"]["pause_status"] == "${var.schedule_pause_status}"
    assert job["max_concurrent_runs"] == 1
    # The job tells someone when it fails: mail, and any notification destinations.
    assert job["email_notifications"]["on_failure"] == ["${var.failure_email}"]
    assert job["webhook_notifications"]["on_failure"] == "${var.failure_webhooks}"
    assert bundle["variables"]["failure_webhooks"]["default"] == []


def test_serverless_variant_runs_the_same_tasks(job: dict, serverless: dict):
    cluster_tasks, tasks = tasks_of(job), tasks_of(serverless)
    assert list(tasks) == TASK_ORDER
    environments = {e["environment_key"]: e["spec"] for e in serverless["environments"]}
    for key, task in tasks.items():
        same = cluster_tasks[key]
        assert task["python_wheel_task"] == same["python_wheel_task"]
        assert task.get("depends_on") == same.get("depends_on")
        assert task.get("run_if", "ALL_SUCCESS") == same.get("run_if", "ALL_SUCCESS")
        # Serverless: no cluster, no task libraries; the environment installs the wheel.
        assert "job_cluster_key" not in task and "libraries" not in task
        assert task["environment_key"] in environments
    for spec in environments.values():
        assert spec["dependencies"] == [WHEEL]
        assert spec["environment_version"] == "${var.serverless_environment_version}"
    assert "job_clusters" not in serverless
    for field in ("email_notifications", "webhook_notifications", "max_concurrent_runs"):
        assert serverless[field] == job[field], field
    assert serverless["schedule"]["pause_status"] == "${var.serverless_schedule_pause_status}"


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_at_most_one_variant_is_scheduled(bundle: dict, target: str):
    values = resolved(bundle, target)
    unpaused = [
        name
        for name in ("schedule_pause_status", "serverless_schedule_pause_status")
        if values[name] == "UNPAUSED"
    ]
    assert len(unpaused) <= 1, f"{target}: both variants would process every date: {unpaused}"


@pytest.mark.parametrize(
    ("exits", "expected"),
    [
        # A blocking check (3) or a crash (1) in a task: the tasks after it do not run.
        ({"bronze_silver": 3}, {"bronze_silver": 3, "gold": None, "features": None}),
        ({"bronze_silver": 1}, {"bronze_silver": 1, "gold": None, "features": None}),
        ({"gold": 3}, {"bronze_silver": 0, "gold": 3, "features": None}),
        ({}, {"bronze_silver": 0, "gold": 0, "features": 0}),
    ],
)
def test_a_failed_task_stops_the_tasks_after_it(
    bundle: dict, exits: dict[str, int], expected: dict[str, int | None]
):
    for name in (JOB, SERVERLESS_JOB):
        assert run_job(bundle["jobs"][name], lambda t: exits.get(t["task_key"], 0)) == expected


def test_a_held_back_date_is_no_failure_of_the_job(job: dict):
    # bronze_silver exits 0 when a gate held a date back (the other dates completed), so
    # gold and features still bring those dates in; a blocking check still exits 3.
    assert GATE_FLAG in tasks_of(job)["bronze_silver"]["python_wheel_task"]["parameters"]


# --- the wheel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources (the repo stays untouched)."""
    return project_wheel(tmp_path_factory)


def console_scripts(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(name).decode())
    return dict(parser["console_scripts"])


def test_every_task_runs_an_entry_point_of_the_wheel(bundle: dict, wheel: Path):
    scripts = console_scripts(wheel)
    distribution = wheel.name.split("-")[0]
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    for job in bundle["jobs"].values():
        for task in job["tasks"]:
            spec = task["python_wheel_task"]
            assert normalise(spec["package_name"]) == normalise(distribution)
            assert spec["entry_point"] in scripts, f"{spec['entry_point']} not in {sorted(scripts)}"
            module, _, function = scripts[spec["entry_point"]].partition(":")
            assert module.replace(".", "/") + ".py" in files
            assert callable(getattr(import_module(module), function))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed alone into a folder, as a cluster installs the task library."""
    target = tmp_path_factory.mktemp("site")
    # uv's pip when set-up installed it (the uv-made .venv has no pip), else this Python's.
    pip = [str(UV), "--no-config", "pip"] if UV.exists() else [sys.executable, "-m", "pip"]
    install = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", "--python", sys.executable]
        + ["--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=uv_env(),
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return target


# What a python_wheel_task does: find the entry point in the package's metadata and call
# it with the task's parameters as the command line. The checks make sure the code comes
# from the installed wheel, not from the repository.
LAUNCHER = """
import sys
from importlib.metadata import distribution

target, package, name, *parameters = sys.argv[1:]
(entry,) = [e for e in distribution(package).entry_points if e.name == name]
function = entry.load()
assert sys.modules[entry.module].__file__.startswith(target), sys.modules[entry.module].__file__
sys.argv = [name, *parameters]
sys.exit(function())
"""


def test_tasks_start_from_the_installed_wheel(
    bundle: dict, job: dict, installed: Path, tmp_path: Path
):
    """Each task's entry point, looked up in the installed wheel's metadata and called with
    the task's parameters, parses them and answers a user error in one line, the code
    coming from the wheel. No Spark here: the whole job from the wheel, end to end, is
    tests/test_databricks_runtime.py (on the runtime it is deployed to); running it a second
    time on this machine's stack cost ≈ 5 minutes of CI for no other assertion."""
    values = variable_values(
        bundle, landing=str(tmp_path / "no-landing"), lakehouse_root=str(tmp_path / "lh")
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}

    def launch(task: dict, *extra: str) -> subprocess.CompletedProcess:
        spec = task["python_wheel_task"]
        return subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(installed), spec["package_name"]]
            + [spec["entry_point"], *task_parameters(task, values), *extra],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    tasks = tasks_of(job)
    for task in tasks.values():
        helped = launch(task, "--help")
        assert helped.returncode == 0, helped.stderr[-3000:]
        assert f"usage: {task['python_wheel_task']['entry_point']}" in helped.stdout
    missing = launch(tasks["bronze_silver"])
    assert missing.returncode == 2, missing.stderr[-3000:]
    assert "Traceback" not in missing.stderr
    assert "no-landing" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
