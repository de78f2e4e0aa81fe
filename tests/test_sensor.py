"""The landing sensor requests exactly the new and the changed dates, once; the schedule
requests yesterday."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)
from pyspark.sql import SparkSession

from orchestration.definitions import build_definitions
from orchestration.partitions import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    ingest_date_partitions,
)
from orchestration.resources import LakehouseResource
from orchestration.sensors import due_dates, landing_fingerprints, processed_fingerprints
from pipelines.silver import record_ingest_log
from transformations.gate import GateOutcome

D20, D21, D22, D23 = (date(2026, 10, d) for d in (20, 21, 22, 23))


@pytest.fixture()
def setup(examples_dir: Path, tmp_path: Path) -> dict:
    landing = tmp_path / "landing"
    shutil.copytree(examples_dir / "landing", landing)
    defs = build_definitions(ingest_date_partitions(first=date(2026, 10, 1)))
    resource = LakehouseResource(landing=str(landing), root=str(tmp_path / "lakehouse"))
    return {
        "examples": examples_dir,
        "landing": landing,
        "root": tmp_path / "lakehouse",
        "sensor": defs.resolve_sensor_def("landing_sensor"),
        "schedule": defs.resolve_schedule_def("daily_schedule"),
        "resources": {"lakehouse": resource},
        "instance": DagsterInstance.ephemeral(),
    }


def record_processed(spark: SparkSession, root: Path, prints: dict[date, str]) -> None:
    """What silver writes to the ingest log when it has processed these dates."""
    outcomes = {d: GateOutcome(d, records=10, failed=0, gate_passed=True) for d in prints}
    record_ingest_log(spark, str(root), outcomes, 0.25, prints)


def tick(setup: dict, cursor: str | None):
    # As a context manager: the lakehouse resource has a teardown (it records Dagster runs
    # in the run ledger), and Dagster tears resources down when the context closes.
    with build_sensor_context(
        cursor=cursor, resources=setup["resources"], instance=setup["instance"]
    ) as context:
        return setup["sensor"](context), context


def requested_dates(result) -> list[date]:
    dates = []
    for request in result.run_requests or []:
        assert isinstance(request, RunRequest)
        if request.partition_key:
            dates.append(date.fromisoformat(request.partition_key))
            continue
        first = date.fromisoformat(request.tags[ASSET_PARTITION_RANGE_START_TAG])
        last = date.fromisoformat(request.tags[ASSET_PARTITION_RANGE_END_TAG])
        dates += [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    return sorted(dates)


def add_late_file(setup: dict) -> None:
    later = setup["examples"] / "later"
    for late in later.rglob("*.jsonl"):
        target = setup["landing"] / late.relative_to(later)
        shutil.copy(late, target)


def test_due_dates_compare_fingerprints() -> None:
    landing = {D20: "a:1", D21: "b:2;c:3", D23: "d:4"}
    processed = {D20: "a:1", D21: "b:2"}
    assert due_dates(landing, processed, {}) == [D21, D23]
    assert due_dates(landing, processed, {"2026-10-21": "b:2;c:3"}) == [D23]


def test_new_and_late_dates_are_requested_once(spark: SparkSession, setup: dict) -> None:
    landing = landing_fingerprints(str(setup["landing"]))
    assert sorted(landing) == [D20, D21, D22, D23]
    # 20-22 were processed; 23 is new.
    record_processed(spark, setup["root"], {d: landing[d] for d in (D20, D21, D22)})
    assert processed_fingerprints(str(setup["root"]))[D21] == landing[D21]
    add_late_file(setup)  # a late file into the processed 21

    result, context = tick(setup, None)
    assert requested_dates(result) == [D21, D23]
    assert len(result.run_requests) == 2  # not consecutive: two runs
    assert all(r.run_key for r in result.run_requests)

    # Next tick, runs not finished yet: nothing again.
    again, context = tick(setup, result.cursor)
    assert not again.run_requests
    assert again.skip_reason

    # The runs finish (the log records the files they read): still nothing, cursor emptied.
    now = landing_fingerprints(str(setup["landing"]))
    record_processed(spark, setup["root"], {D21: now[D21], D23: now[D23]})
    done, _ = tick(setup, again.cursor)
    assert not done.run_requests
    assert done.cursor == "{}"


def test_a_fresh_lakehouse_is_one_run_over_the_range(setup: dict) -> None:
    result, _ = tick(setup, None)
    assert requested_dates(result) == [D20, D21, D22, D23]
    assert len(result.run_requests) == 1  # a single-run backfill of four dates


def test_the_schedule_runs_yesterday(setup: dict) -> None:
    def evaluate(when: datetime):
        with build_schedule_context(
            scheduled_execution_time=when,
            resources=setup["resources"],
            instance=setup["instance"],
        ) as context:
            return setup["schedule"](context)

    request = evaluate(datetime(2026, 10, 22, 0, 30, tzinfo=UTC))
    assert isinstance(request, RunRequest) and request.partition_key == "2026-10-21"
    skipped = evaluate(datetime(2026, 10, 27, 0, 30, tzinfo=UTC))  # no landing folder
    assert isinstance(skipped, SkipReason) and "2026-10-26" in skipped.skip_message
