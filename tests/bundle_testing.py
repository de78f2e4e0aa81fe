"""Helpers for the tests that run the Databricks bundle: the bundle as data, the project's
wheel (built once per test session), and a stand-in for the Jobs service's task order."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
UV = REPO / ".tools" / "uv" / "bin" / "uv"  # scripts/setup.sh installs it
VARIABLE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")
JOB = "lakehouse_job"  # on a job cluster
SERVERLESS_JOB = "lakehouse_job_serverless"


# --- the bundle as data -----------------------------------------------------------------


def load_bundle() -> dict:
    """databricks.yml with the jobs of the resource files it includes merged in."""
    root = yaml.safe_load((REPO / "databricks.yml").read_text())
    jobs: dict = {}
    for pattern in root.get("include", []):
        for path in sorted(REPO.glob(pattern)):
            resources = yaml.safe_load(path.read_text()).get("resources", {})
            jobs.update(resources.get("jobs", {}))
    root["jobs"] = jobs
    return root


def tasks_of(job: dict) -> dict[str, dict]:
    return {task["task_key"]: task for task in job["tasks"]}


def strings(node: object) -> Iterator[str]:
    """Every key and string value in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def variable_values(bundle: dict, **local: str) -> dict[str, str]:
    """The variables' defaults, with some replaced (locations by local folders)."""
    values = {name: str(spec.get("default", "")) for name, spec in bundle["variables"].items()}
    values.update(local)
    return values


def task_parameters(task: dict, values: dict[str, str]) -> list[str]:
    """A python_wheel_task's command line with the bundle's variables filled in."""
    parameters = task["python_wheel_task"].get("parameters", [])
    return [VARIABLE.sub(lambda m: values[m.group(1)], str(p)) for p in parameters]


# --- the Jobs service's task order ----------------------------------------------------------

SUCCEEDED, FAILED, UPSTREAM_FAILED = "succeeded", "failed", "upstream_failed"


def run_job(job: dict, launch: Callable[[dict], int]) -> dict[str, int | None]:
    """Run a job's tasks the way the Jobs service orders them: a task starts once its
    dependencies ended, if its `run_if` holds for their states (default ALL_SUCCESS);
    otherwise it is marked upstream-failed and does not run.

    Returns each task's exit code, None for a task that did not run. Tasks run one at a
    time, in the listed order (this job lists them in dependency order).
    """
    states: dict[str, str] = {}
    codes: dict[str, int | None] = {}
    for task in job["tasks"]:
        upstream = [states[d["task_key"]] for d in task.get("depends_on", [])]
        if upstream and not _run_if_holds(task.get("run_if", "ALL_SUCCESS"), upstream):
            states[task["task_key"]], codes[task["task_key"]] = UPSTREAM_FAILED, None
            continue
        code = launch(task)
        states[task["task_key"]] = SUCCEEDED if code == 0 else FAILED
        codes[task["task_key"]] = code
    return codes


def _run_if_holds(condition: str, upstream: list[str]) -> bool:
    if condition == "ALL_SUCCESS":
        return all(s == SUCCEEDED for s in upstream)
    if condition == "ALL_DONE":
        return True
    if condition == "NONE_FAILED":
        return SUCCEEDED in upstream and FAILED not in upstream and UPSTREAM_FAILED not in upstream
    raise ValueError(f"run_if {condition} is not emulated here")


# --- the project's wheel --------------------------------------------------------------------


def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per test session from a copy of the sources (a build
    in the checkout would leave build/ and egg-info behind, beside other runs' files).

    uv builds it when scripts/setup.sh installed uv (seconds, cached build environment);
    else `python -m build`, the bundle's own artifact command. Both are the same PEP 517
    build with the setuptools backend of pyproject.toml.
    """
    base = tmp_path_factory.getbasetemp() / "project-wheel"
    built = sorted((base / "dist").glob("*.whl"))
    if built:
        return built[0]
    shutil.rmtree(base, ignore_errors=True)  # what a failed build left
    source = base / "src"
    source.mkdir(parents=True)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for path in REPO.iterdir():
        if path.is_dir() and any(fnmatch.fnmatch(path.name, p) for p in includes):
            shutil.copytree(path, source / path.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = base / "dist"
    if UV.exists():
        command = [str(UV), "build", "--wheel", "--out-dir", str(out), str(source)]
    else:
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)]
    build = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=uv_env(), cwd=base
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def uv_env() -> dict[str, str]:
    """This environment for uv: the platform's CA store (a TLS-inspecting proxy's CA is
    there) and no virtualenv of the caller's that uv could mistake for its target."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.setdefault("UV_NATIVE_TLS", "1")
    return env
