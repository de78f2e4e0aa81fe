"""Crash safety: a run SIGKILLed in the middle of its silver writes, another in the middle
of its gold writes, then an ordinary re-run, end with exactly the tables of an undisturbed
run, and every table stays readable (by delta-rs too) after each kill.

Each table write is one Delta commit, so a kill leaves a table at its previous version or
its next one, never between. The killed runs also leave their lease file behind
(pipelines/locks.py); the next run takes it over because its holder is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lakehouse_testing import OUTPUT_TABLES, copy_landing, run_pipeline, table_rows
from spark_processes import PROJECT, spark_env

from orchestration.delta_rs import read_table
from pipelines.delta_io import table_exists
from schemas.tables import GOLD_TABLES, QUARANTINE_TABLE, SILVER_TABLES

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().parent / "pipeline_in_subprocess.py"
COMPARED = [QUARANTINE_TABLE, *OUTPUT_TABLES]
WAIT_SECONDS = 900


def first_commit_of(root: Path, tables: list[str]) -> bool:
    return any((root / table / "_delta_log" / f"{0:020d}.json").exists() for table in tables)


def kill_when(landing: Path, root: Path, ready, log: Path) -> None:
    """Start a pipeline process and SIGKILL it (and its JVM) as soon as `ready()` holds."""
    env = spark_env(LAKEHOUSE_SPARK_CONF="spark.driver.memory=1g")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), str(landing), str(root)],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        finished = process.poll() is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not finished, f"the run ended before the kill point:\n{log.read_text()[-3000:]}"


def assert_readable(root: Path) -> None:
    for table in [QUARANTINE_TABLE, *SILVER_TABLES.values(), *GOLD_TABLES.values()]:
        if table_exists(str(root / table)):  # a _delta_log folder alone is no table yet
            read_table(str(root / table))


def test_killed_runs_then_a_rerun_give_the_undisturbed_tables(
    spark, example_run, examples_dir, tmp_path
):
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    silver = list(SILVER_TABLES.values())
    gold = list(GOLD_TABLES.values())

    kill_when(landing, root, lambda: first_commit_of(root, silver), tmp_path / "silver.log")
    assert not first_commit_of(root, gold)
    assert_readable(root)

    kill_when(landing, root, lambda: first_commit_of(root, gold), tmp_path / "gold.log")
    assert_readable(root)

    result = run_pipeline(spark, str(landing), str(root))
    assert [d.isoformat() for d in result.failed_dates] == ["2026-10-22"]
    for table in COMPARED:
        expected = table_rows(spark, example_run["root"], table)
        assert table_rows(spark, root, table) == expected, table
