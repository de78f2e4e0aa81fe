"""The code location loads, and holds every asset, check, job, schedule and sensor.

In the style of dagster-open-platform's `test_defs`: load the whole code location and
compare the sorted asset and check keys, so a broken or missing definition fails fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from dagster import (
    AssetCheckKey,
    AssetKey,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
)

from orchestration.definitions import build_definitions, defs
from orchestration.jobs import JOB_NAME
from orchestration.partitions import contiguous_ranges, covering, ingest_date_partitions

PROJECT = Path(__file__).resolve().parents[1]

ASSETS = [
    "adx/gold",
    "bronze/events",
    "features/user_features",
    "gold/ai_usage_daily",
    "gold/api_usage_daily",
    "gold/daily_active_users",
    "gold/revenue_daily",
    "gold/signups_daily",
    "quarantine/events",
    "silver/ai_completions",
    "silver/api_requests",
    "silver/invoices",
    "silver/logins",
    "silver/projects",
    "silver/signups",
]
GOLD = [a for a in ASSETS if a.startswith("gold/")]
SILVER = [a for a in ASSETS if a.startswith("silver/")]
CHECKS = sorted(
    [
        *[f"{a}:gx_suite" for a in ASSETS if a != "adx/gold"],
        *[f"{a}:reconciles_with_silver" for a in GOLD],
        "quarantine/events:batch_gate",
        "quarantine/events:conservation",
    ]
)
NON_BLOCKING = {"quarantine/events:batch_gate", "quarantine/events:conservation"}


def key(name: str) -> AssetKey:
    return AssetKey(name.split("/"))


def check_name(k: AssetCheckKey) -> str:
    return f"{k.asset_key.to_user_string()}:{k.name}"


def test_definitions_load() -> None:
    Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(JOB_NAME) is not None


def test_every_asset_and_check_is_there() -> None:
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == ASSETS
    assert sorted(check_name(k) for k in graph.asset_check_keys) == CHECKS
    job = defs.resolve_job_def(JOB_NAME)
    assert sorted(check_name(k) for k in job.asset_layer.asset_graph.asset_check_keys) == CHECKS


def test_suite_checks_block_and_the_gate_does_not() -> None:
    graph = defs.resolve_asset_graph()
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        assert spec.blocking == (check_name(check_key) not in NON_BLOCKING), check_key
        assert spec.partitions_def is not None  # results belong to the partitions checked


def test_layers_depend_on_each_other() -> None:
    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(key(name)).parent_keys}

    assert parents("quarantine/events") == {"bronze/events"}
    assert all(parents(s) == {"bronze/events"} for s in SILVER)
    # the gold step reads every silver table; its five specs share their parents
    assert all(parents(g) == set(SILVER) for g in GOLD)
    assert parents("features/user_features") == {
        "silver/signups",
        "silver/logins",
        "silver/api_requests",
        "silver/ai_completions",
    }
    assert parents("adx/gold") == set(GOLD)


def test_every_asset_is_daily_partitioned_and_backfills_in_one_run() -> None:
    graph = defs.resolve_asset_graph()
    for name in ASSETS:
        node = graph.get(key(name))
        assert isinstance(node.partitions_def, DailyPartitionsDefinition), name
        assert node.backfill_policy == BackfillPolicy.single_run(), name
    job = defs.resolve_job_def(JOB_NAME)
    assert job.executor_def.name == "in_process"  # one Spark session per run


def test_schedule_and_sensor_target_the_job() -> None:
    schedule = defs.resolve_schedule_def("daily_schedule")
    sensor = defs.resolve_sensor_def("landing_sensor")
    assert schedule.job_name == JOB_NAME and schedule.execution_timezone == "UTC"
    assert sensor.job_name == JOB_NAME
    assert {"spark", "lakehouse", "storage"} <= set(defs.resources or {})


def test_partitions_cover_any_landing_date() -> None:
    default = ingest_date_partitions(first=date(2026, 10, 1))
    assert default.get_first_partition_key() == "2026-10-01"
    # A date ahead of this machine's clock, or before the configured start, still runs.
    wide = covering([date(2019, 12, 30), date(2099, 1, 2)])
    assert wide.has_partition_key("2019-12-30") and wide.has_partition_key("2099-01-02")
    Definitions.validate_loadable(build_definitions(wide))
    assert contiguous_ranges([date(2026, 10, 22), date(2026, 10, 20), date(2026, 10, 21)]) == [
        (date(2026, 10, 20), date(2026, 10, 22))
    ]
    assert contiguous_ranges([date(2026, 10, 20), date(2026, 10, 23)]) == [
        (date(2026, 10, 20), date(2026, 10, 20)),
        (date(2026, 10, 23), date(2026, 10, 23)),
    ]


def test_dagster_loads_the_code_location_from_pyproject() -> None:
    """What `dagster dev` does: find `[tool.dagster]` and load the module in a new process."""
    env = {**os.environ, "LAKEHOUSE_FIRST_INGEST_DATE": "2026-10-01"}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
