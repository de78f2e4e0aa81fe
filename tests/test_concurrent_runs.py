"""Concurrent backfills: two processes started together over overlapping batches of
ingest dates (2026-10-20..21 and 2026-10-21..23: one date in both, the others in one) both
succeed and leave the tables of one run after the other.

Bronze and validation replace only their own dates (Delta's optimistic commits; a lost
race is retried, pipelines/delta_io.py); the steps that decide across dates (silver,
gold, features) take the lakehouse's lease one run at a time (pipelines/locks.py). One
pair of processes covers both cases (disjoint dates and the same date twice at once):
each pair costs two JVM start-ups and two pipeline runs on a 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lakehouse_testing import OUTPUT_TABLES, copy_landing, table_rows
from spark_processes import PROJECT, spark_env

from schemas.tables import QUARANTINE_TABLE

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().parent / "pipeline_in_subprocess.py"
COMPARED = [QUARANTINE_TABLE, *OUTPUT_TABLES]
RUN_SECONDS = 1500


def run_at_once(landing: Path, root: Path, batches: list[list[str]]) -> list[dict]:
    """One pipeline process per batch of dates, all started together; their summaries."""
    env = spark_env(LAKEHOUSE_SPARK_CONF="spark.driver.memory=1g")
    processes = [
        subprocess.Popen(
            [sys.executable, str(RUNNER), str(landing), str(root), *dates],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dates in batches
    ]
    summaries = []
    for process in processes:
        out, err = process.communicate(timeout=RUN_SECONDS)
        assert process.returncode == 0, err[-5000:]
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


def test_overlapping_backfills_at_once_equal_one_after_the_other(
    spark, example_run, examples_dir, tmp_path
):
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    first, second = run_at_once(
        landing, root, [["2026-10-20", "2026-10-21"], ["2026-10-21", "2026-10-22", "2026-10-23"]]
    )
    assert first["failed_dates"] == [] and second["failed_dates"] == ["2026-10-22"]
    # 2026-10-21 was processed by both at once, the late file included: it must be there
    # once, exactly as the example's runs one after the other left it.
    for table in COMPARED:
        expected = table_rows(spark, example_run["root"], table)
        assert table_rows(spark, root, table) == expected, table
