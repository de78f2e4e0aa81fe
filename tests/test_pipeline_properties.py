"""The contract's promises (§4): conservation, order independence, idempotence, the gate."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from lakehouse_testing import OUTPUT_TABLES, copy_landing, run_pipeline, table_rows

from orchestration.delta_rs import read_table
from schemas.tables import BRONZE_TABLE, QUARANTINE_TABLE, SILVER_TABLES

GATED = date(2026, 10, 22)
COMPARED = [*OUTPUT_TABLES, QUARANTINE_TABLE]


def snapshot(spark, root) -> dict[str, list[tuple]]:
    return {table: table_rows(spark, root, table) for table in COMPARED}


def per_date(spark, root, table) -> dict[date, int]:
    rows = spark.read.format("delta").load(f"{root}/{table}").groupBy("ingest_date").count()
    return {r["ingest_date"]: r["count"] for r in rows.collect()}


def test_conservation_per_ingest_date(spark, example_run):
    root = example_run["root"]
    bronze = per_date(spark, root, BRONZE_TABLE)
    kept = per_date(spark, root, QUARANTINE_TABLE)
    for table in SILVER_TABLES.values():
        for day, n in per_date(spark, root, table).items():
            kept[day] = kept.get(day, 0) + n
    assert set(bronze) == {date(2026, 10, d) for d in (20, 21, 22, 23)}
    for day, n in bronze.items():
        if day == GATED:
            assert kept[day] < n  # valid records held back in bronze only
        else:
            assert kept[day] == n, day


def test_order_independence(spark, example_run, examples_dir, tmp_path):
    """Dates processed newest first, one run each, give the same tables as arrival order."""
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    for day in sorted(per_date(spark, example_run["root"], BRONZE_TABLE), reverse=True):
        run_pipeline(spark, str(landing), str(root), [day])
    assert snapshot(spark, root) == snapshot(spark, example_run["root"])


def test_redeliveries_of_stored_events_only_add_rows(spark, example_run, examples_dir, tmp_path):
    """The first date alone, then the others in one run, as days arrive: the later dates'
    copies of events kept from the first lose to them, silver and quarantine only take
    the new rows (appends, no MERGE), and the tables are those of one run of all dates."""
    landing = copy_landing(examples_dir, tmp_path / "landing", with_late_file=True)
    root = tmp_path / "lakehouse"
    days = sorted(per_date(spark, example_run["root"], BRONZE_TABLE))
    run_pipeline(spark, str(landing), str(root), days[:1])
    run_pipeline(spark, str(landing), str(root), days[1:])
    for table in [QUARANTINE_TABLE, *SILVER_TABLES.values()]:
        last = spark.sql(f"DESCRIBE HISTORY delta.`{root}/{table}` LIMIT 1").first()
        assert (last["operation"], last["operationParameters"]["mode"]) == ("WRITE", "Append")
    assert snapshot(spark, root) == snapshot(spark, example_run["root"])


@pytest.fixture
def lakehouse_copy(example_run, tmp_path):
    landing = tmp_path / "landing"
    root = tmp_path / "lakehouse"
    shutil.copytree(example_run["landing"], landing)
    shutil.copytree(example_run["root"], root)
    return landing, root


def test_rerun_changes_nothing(spark, lakehouse_copy):
    landing, root = lakehouse_copy
    before = snapshot(spark, root)
    result = run_pipeline(spark, str(landing), str(root), [date(2026, 10, 20), date(2026, 10, 21)])
    assert result.ok
    assert snapshot(spark, root) == before
    assert per_date(spark, root, BRONZE_TABLE)[date(2026, 10, 21)] == 735


def test_gate_holds_back_then_publishes_with_higher_threshold(spark, lakehouse_copy):
    landing, root = lakehouse_copy
    silver_dates = set()
    for table in SILVER_TABLES.values():
        silver_dates |= set(per_date(spark, root, table))
    assert GATED not in silver_dates

    failed = run_pipeline(spark, str(landing), str(root), [GATED])
    assert failed.failed_dates == [GATED]
    outcome = failed.silver.outcomes[GATED]
    assert outcome.failed_share > 0.25 and outcome.top_reasons

    published = run_pipeline(spark, str(landing), str(root), [GATED], threshold=0.5)
    assert published.ok
    kept = per_date(spark, root, QUARANTINE_TABLE)[GATED]
    kept += sum(per_date(spark, root, t).get(GATED, 0) for t in SILVER_TABLES.values())
    assert kept == per_date(spark, root, BRONZE_TABLE)[GATED]


def test_late_file_into_processed_date(spark, example_run):
    """The example's late file landed in 2026-10-21 after that date had been processed;
    re-running the date took its lines in and kept every earlier line exactly once (a
    further re-run changing nothing is test_rerun_changes_nothing, on a copy of it)."""
    late = date(2026, 10, 21)
    first, second = example_run["results"]
    assert late in first.dates and second.dates == [late]
    bronze = spark.read.format("delta").load(f"{example_run['root']}/{BRONZE_TABLE}")
    rows = bronze.where(f"ingest_date = '{late}'").groupBy("source_file", "line_number").count()
    assert rows.where("count > 1").count() == 0  # no line twice
    by_file = {
        r["source_file"].rsplit("/", 1)[-1]: r["count"]
        for r in rows.groupBy("source_file").count().collect()
    }
    assert by_file.pop("late-arrival-004.jsonl") == 330  # every line of the late file
    assert by_file and all(n > 0 for n in by_file.values())  # the files of the first run


@pytest.mark.parametrize("table", [BRONZE_TABLE, QUARANTINE_TABLE, *OUTPUT_TABLES])
def test_tables_readable_by_delta_rs(spark, example_run, table):
    """The `deltalake` package (delta-rs) reads every table with the same rows as Spark."""
    path = f"{example_run['root']}/{table}"
    frame = read_table(path).to_pandas()
    spark_df = spark.read.format("delta").load(path)
    assert sorted(frame.columns) == sorted(spark_df.columns)
    assert len(frame) == spark_df.count()
    if table in OUTPUT_TABLES:
        columns = spark_df.columns
        rows = [
            tuple(None if v != v else v for v in row)  # NaN from pandas -> None
            for row in frame[columns].astype(object).itertuples(index=False)
        ]
        spark_rows = [tuple(r) for r in spark_df.collect()]
        normalise = lambda rows: sorted(rows, key=str)  # noqa: E731
        assert normalise(_py(rows)) == normalise(_py(spark_rows))


def _py(rows):
    import datetime as dt

    import pandas as pd

    def convert(v):
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime().replace(tzinfo=None)
        if isinstance(v, dt.datetime):
            return v.replace(tzinfo=None)
        if hasattr(v, "item"):
            return v.item()
        return v

    return [tuple(convert(v) for v in row) for row in rows]
