"""GX suites: JSON is current, contract tables pass, corrupted rows fail the right rule."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, IntegralType, StructField, StructType

from expectations.build_suites import SUITES_DIR, build_suites, suite_json
from expectations.reconcile import reconcile_gold_with_silver
from expectations.suites import SuiteResult, load_suite, suite_names, validate
from schemas.tables import BRONZE_EVENTS, GOLD, QUARANTINE_EVENTS, SILVER, USER_FEATURES

# --- helpers ------------------------------------------------------------------------------


SCHEMAS: dict[str, StructType] = {
    **{f"silver.{t}": s for t, s in SILVER.items()},
    **{f"gold.{t}": s for t, s in GOLD.items()},
    "features.user_features": USER_FEATURES,
}


def _as_read(dtype: DataType) -> DataType:
    return DoubleType() if isinstance(dtype, IntegralType) else dtype


def read_expected(spark: SparkSession, examples: Path, suite: str) -> DataFrame:
    """An expected table of the worked example, typed with the contract schema."""
    schema = SCHEMAS[suite]
    # The CSVs write nullable integers as "2.0", and silver ones have no ingest_date.
    read_as = StructType(
        [StructField(f.name, _as_read(f.dataType)) for f in schema if f.name != "ingest_date"]
    )
    path = examples / "expected" / f"{suite.replace('.', '__')}.csv"
    df = spark.read.csv(str(path), header=True, schema=read_as, mode="FAILFAST")
    if suite.startswith("silver."):
        df = df.withColumn("ingest_date", F.col("event_date"))  # never ingested before it happened
    return df.select([F.col(f.name).cast(f.dataType) for f in schema.fields])


def failed(result: SuiteResult) -> set[tuple[str, str | None]]:
    return {(e.type, e.column) for e in result.blocking_failures}


# --- the JSON suites ----------------------------------------------------------------------


def test_json_files_are_what_the_script_builds() -> None:
    built = build_suites()
    on_disk = {p.name.removesuffix(".json") for p in SUITES_DIR.glob("*.json")}
    assert on_disk == set(built), "run: python -m expectations.build_suites"
    for name, suite in built.items():
        assert (SUITES_DIR / f"{name}.json").read_text() == suite_json(suite), name


def test_every_table_has_a_suite_and_every_rule_a_severity() -> None:
    names = suite_names()
    assert {"bronze.events", "quarantine.events", "features.user_features"} <= set(names)
    assert {f"silver.{t}" for t in SILVER} | {f"gold.{t}" for t in GOLD} <= set(names)
    for name in names:
        raw = json.loads((SUITES_DIR / f"{name}.json").read_text())
        suite = load_suite(name)  # JSON -> gx.ExpectationSuite, no file-backed project
        assert suite.to_json_dict() == raw  # round trip
        assert all(e["meta"]["severity"] in {"error", "warn"} for e in raw["expectations"])


# --- contract tables pass -----------------------------------------------------------------


@pytest.mark.parametrize("suite", list(SCHEMAS))
def test_expected_tables_pass(spark: SparkSession, examples_dir: Path, suite: str) -> None:
    result = validate(read_expected(spark, examples_dir, suite), suite)
    assert result.success, result.blocking_failures
    assert not result.warnings
    assert result.evaluated == len(load_suite(suite).expectations)


def test_reconciliation_passes_then_catches_a_changed_total(
    spark: SparkSession, examples_dir: Path
) -> None:
    silver = {t: read_expected(spark, examples_dir, f"silver.{t}") for t in SILVER}
    gold = {t: read_expected(spark, examples_dir, f"gold.{t}") for t in GOLD}
    ok = reconcile_gold_with_silver(silver, gold)
    assert ok.success, ok.blocking_failures

    usage = gold["api_usage_daily"]
    first = usage.orderBy("event_date", "tenant_id", "api_version").limit(1)
    gold["api_usage_daily"] = usage.exceptAll(first).unionByName(
        first.withColumn("requests", F.col("requests") + 1)
    )
    bad = reconcile_gold_with_silver(silver, gold)
    assert not bad.success
    assert failed(bad) == {
        ("expect_column_pair_values_to_be_equal", "api_requests_gold,api_requests_silver")
    }


# --- corrupted rows fail the right blocking rule ------------------------------------------


def test_duplicate_event_id_and_bad_status_code_block(
    spark: SparkSession, examples_dir: Path
) -> None:
    df = read_expected(spark, examples_dir, "silver.api_requests")
    copy = df.orderBy("event_id").limit(1).withColumn("status_code", F.lit(42))
    result = validate(df.unionByName(copy), "silver.api_requests")
    assert not result.success
    assert failed(result) == {
        ("expect_column_values_to_be_unique", "event_id"),
        ("expect_column_values_to_be_between", "status_code"),
    }
    status = next(e for e in result.blocking_failures if e.column == "status_code")
    assert status.unexpected_count == 1 and status.unexpected_values == (42,)


def test_a_suites_rows_are_one_task_when_few_and_keep_their_partitions_when_many(
    spark: SparkSession, examples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small runs validate from one cached partition (dozens of GX jobs, one task each); a
    day at scale keeps its partitions. Either way the suite finds the same bad row."""
    from pipelines import checks

    clean = read_expected(spark, examples_dir, "silver.api_requests").repartition(3)
    rows = clean.count()
    cached = clean.cache()
    few, counted = checks.validation_snapshot(cached, one_task_rows=rows)
    many, _ = checks.validation_snapshot(cached, one_task_rows=rows - 1)
    assert counted == rows
    assert few.rdd.getNumPartitions() == 1 and many.rdd.getNumPartitions() == 3
    few.unpersist()
    cached.unpersist()

    bad = clean.orderBy("event_id").limit(1).withColumn("status_code", F.lit(42))
    ctx = checks.CheckContext(spark, str(examples_dir))
    monkeypatch.setattr(checks, "ONE_TASK_ROWS", 1)  # the path a large day takes
    result = checks.suite(ctx, "silver/api_requests", "silver.api_requests", clean.union(bad))
    assert not result.passed and result.blocks and "status_code" in result.description
    assert result.metadata["rows_validated"] == rows + 1


def test_negative_cost_blocks(spark: SparkSession, examples_dir: Path) -> None:
    df = read_expected(spark, examples_dir, "silver.ai_completions").limit(5)
    one = df.first()["event_id"]
    cost = F.when(F.col("event_id") == one, -0.5).otherwise(F.col("cost_usd"))
    result = validate(df.withColumn("cost_usd", cost), "silver.ai_completions")
    assert failed(result) == {("expect_column_values_to_be_between", "cost_usd")}


def test_dau_above_wau_blocks(spark: SparkSession) -> None:
    row = (date(2026, 10, 20), "t-0001", 3, 2, 5)  # dau 3 > wau 2
    result = validate(
        spark.createDataFrame([row], GOLD["daily_active_users"]), "gold.daily_active_users"
    )
    assert failed(result) == {("expect_column_pair_values_a_to_be_greater_than_b", "wau,dau")}
    assert result.blocking_failures[0].unexpected_values == ([2, 3],)


def test_warning_does_not_block(spark: SparkSession, examples_dir: Path) -> None:
    df = read_expected(spark, examples_dir, "silver.api_requests").limit(3)
    slow = df.withColumn("latency_ms", F.lit(500_000.0))
    result = validate(slow, "silver.api_requests")
    assert not slow.is_cached  # GX's persist() is undone
    assert result.success
    assert [(w.column, w.unexpected_count) for w in result.warnings] == [("latency_ms", 3)]
    json.dumps(result.to_metadata())  # Dagster metadata must be JSON


def test_missing_column_is_a_blocking_failure(spark: SparkSession, examples_dir: Path) -> None:
    df = read_expected(spark, examples_dir, "silver.logins").limit(3).drop("device")
    result = validate(df, "silver.logins")
    assert not result.success
    assert any(e.exception for e in result.blocking_failures)


# --- bronze and quarantine ----------------------------------------------------------------


def test_bronze_needs_rows_and_envelope(spark: SparkSession) -> None:
    now = datetime(2026, 10, 20, 1, 2, 3)
    rows = [
        (date(2026, 10, 20), "a.jsonl", 1, "{}", now),
        (date(2026, 10, 20), "a.jsonl", 2, "x", now),
    ]
    assert validate(spark.createDataFrame(rows, BRONZE_EVENTS), "bronze.events").success

    empty = validate(spark.createDataFrame([], BRONZE_EVENTS), "bronze.events")
    assert failed(empty) == {("expect_table_row_count_to_be_between", None)}
    no_raw = validate(
        spark.createDataFrame([(*rows[0][:3], None, now)], BRONZE_EVENTS), "bronze.events"
    )
    assert failed(no_raw) == {("expect_column_values_to_not_be_null", "raw")}


def test_quarantine_reason_codes(spark: SparkSession) -> None:
    def row(line: int, reason: str | None) -> tuple:
        return (date(2026, 10, 20), "a.jsonl", line, "{", reason, "detail", None, None)

    ok = spark.createDataFrame([row(1, "malformed_json")], QUARANTINE_EVENTS)
    assert validate(ok, "quarantine.events").success
    bad = spark.createDataFrame([row(1, "bogus"), row(2, None)], QUARANTINE_EVENTS)
    assert failed(validate(bad, "quarantine.events")) == {
        ("expect_column_values_to_be_in_set", "reason"),
        ("expect_column_values_to_not_be_null", "reason"),
    }


# --- Data Docs ----------------------------------------------------------------------------


def test_data_docs_are_written(spark: SparkSession, examples_dir: Path, tmp_path: Path) -> None:
    df = read_expected(spark, examples_dir, "gold.revenue_daily")
    first = validate(df, "gold.revenue_daily", str(tmp_path / "docs"), run_name="partition-1")
    second = validate(df.limit(0), "gold.revenue_daily", str(tmp_path / "docs"))
    assert first.data_docs_url and first.data_docs_url.startswith("file://")
    pages = sorted((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 2 and (tmp_path / "docs" / "index.html").exists()
    assert Path(second.data_docs_url.removeprefix("file://")) in pages
    assert "partition-1" in (tmp_path / "docs" / "index.html").read_text()
    assert first.to_metadata()["data_docs_url"] == first.data_docs_url
