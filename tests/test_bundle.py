"""The Databricks bundle: its structure, the wheel it deploys, and its tasks run locally.

The wheel is built from a copy of the sources and installed into a folder of its own, and
each task runs in its own process the way a python_wheel_task does: the entry point is
looked up in the wheel's metadata and called with the task's parameters from the bundle
(variables replaced by local folders). The tasks hand over through the lakehouse only.
"""

from __future__ import annotations

import configparser
import csv
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib import import_module
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from lakehouse_testing import assert_rows_match, copy_landing, expected_rows

from pipelines.spark import SESSION_CONF
from schemas.tables import FEATURES_TABLE, GOLD, GOLD_TABLES, PENDING_TABLE, SILVER_TABLES

REPO = Path(__file__).resolve().parent.parent
TASK_ORDER = ["bronze_silver", "gold", "features"]
VARIABLE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


# --- the bundle as data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> dict:
    """databricks.yml with the resource files it includes merged in."""
    root = yaml.safe_load((REPO / "databricks.yml").read_text())
    jobs: dict = {}
    for pattern in root.get("include", []):
        for path in sorted(REPO.glob(pattern)):
            resources = yaml.safe_load(path.read_text()).get("resources", {})
            jobs.update(resources.get("jobs", {}))
    root["jobs"] = jobs
    return root


@pytest.fixture(scope="module")
def job(bundle: dict) -> dict:
    assert list(bundle["jobs"]) == ["lakehouse_job"]
    return bundle["jobs"]["lakehouse_job"]


def tasks_of(job: dict) -> dict[str, dict]:
    return {task["task_key"]: task for task in job["tasks"]}


def strings(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def test_targets_dev_and_prod(bundle: dict):
    assert bundle["bundle"]["name"] == "techventure_lakehouse"
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    # The dev copy must never touch production data, and its schedule stays paused.
    dev = targets["dev"]["variables"]
    for name in ("landing", "lakehouse_root"):
        assert dev[name] != bundle["variables"][name]["default"]
    assert dev["schedule_pause_status"] == "PAUSED"


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
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    for task in tasks.values():
        assert task["job_cluster_key"] in clusters
        # The deployed wheel: the artifact that `python -m build --wheel` writes to dist/.
        assert task["libraries"] == [{"whl": "../dist/*.whl"}]
    assert bundle["artifacts"]["lakehouse_wheel"]["build"] == "python -m build --wheel"
    # The cluster gets the settings every local session gets (pipelines/spark.py).
    for conf in (c["spark_conf"] for c in clusters.values()):
        assert {k: str(v) for k, v in conf.items() if k in SESSION_CONF} == SESSION_CONF
    assert job["schedule"]["pause_status"] == "${var.schedule_pause_status}"
    assert job["max_concurrent_runs"] == 1


# --- the wheel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources (the repo stays untouched)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for path in REPO.iterdir():
        if path.is_dir() and any(fnmatch.fnmatch(path.name, p) for p in includes):
            shutil.copytree(path, source / path.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(base / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (built,) = (base / "dist").glob("*.whl")
    return built


def console_scripts(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(name).decode())
    return dict(parser["console_scripts"])


def test_every_task_runs_an_entry_point_of_the_wheel(job: dict, wheel: Path):
    scripts = console_scripts(wheel)
    distribution = wheel.name.split("-")[0]
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
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
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        + ["--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
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


def test_tasks_run_locally_from_the_wheel(
    bundle: dict, job: dict, installed: Path, examples_dir: Path, spark, tmp_path: Path
):
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    values = {name: str(spec.get("default", "")) for name, spec in bundle["variables"].items()}
    values.update(landing=str(landing), lakehouse_root=str(root))
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        # A small driver: this JVM runs next to the test session's.
        "LAKEHOUSE_SPARK_CONF": "spark.driver.memory=1g",
    }
    codes = {}
    for key, task in tasks_of(job).items():
        spec = task["python_wheel_task"]
        parameters = [VARIABLE.sub(lambda m: values[m.group(1)], p) for p in spec["parameters"]]
        run = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(installed), spec["package_name"]]
            + [spec["entry_point"], *parameters],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=1200,
        )
        assert "Traceback" not in run.stderr, run.stderr[-4000:]
        codes[key] = run.returncode
        if key == "bronze_silver":
            # The example's 2026-10-22 fails the 25% gate: exit 1, named, others published.
            assert "gate failed for ingest date 2026-10-22" in run.stderr, run.stderr[-2000:]
    assert codes == {"bronze_silver": 1, "gold": 0, "features": 0}

    for relative in SILVER_TABLES.values():
        assert (root / relative / "_delta_log").is_dir(), relative
    expected = examples_dir / "expected"
    dau = spark.read.format("delta").load(str(root / GOLD_TABLES["daily_active_users"]))
    assert_rows_match(
        [r.asDict() for r in dau.collect()],
        expected_rows(expected / "gold__daily_active_users.csv", GOLD["daily_active_users"]),
        ["event_date", "tenant_id"],
    )
    features = spark.read.format("delta").load(str(root / FEATURES_TABLE))
    with (expected / "features__user_features.csv").open(newline="") as handle:
        keys = {(r["as_of_date"], r["user_id"]) for r in csv.DictReader(handle)}
    assert {(str(r.as_of_date), r.user_id) for r in features.collect()} == keys
    # gold and features consumed every queued date.
    pending = spark.read.format("delta").load(str(root / PENDING_TABLE))
    assert pending.count() == 0
