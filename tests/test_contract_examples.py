"""The contract's worked example: every table equals `expected/`, processed as it arrives."""

from __future__ import annotations

import csv
import json

import pytest
from lakehouse_testing import assert_rows_match, expected_rows

from schemas.tables import (
    BRONZE_TABLE,
    FEATURES_TABLE,
    GOLD,
    GOLD_TABLES,
    QUARANTINE_TABLE,
    SILVER,
    SILVER_TABLES,
    USER_FEATURES,
)

GOLD_KEYS = {
    "daily_active_users": ["event_date", "tenant_id"],
    "api_usage_daily": ["event_date", "tenant_id", "api_version"],
    "ai_usage_daily": ["event_date", "tenant_id", "model"],
    "revenue_daily": ["event_date", "tenant_id", "currency"],
    "signups_daily": ["event_date", "plan", "country"],
}


def counts(spark, root, table, *by):
    rows = spark.read.format("delta").load(f"{root}/{table}").groupBy(*by).count().collect()
    return {tuple(str(r[c]) for c in by): r["count"] for r in rows}


def test_gate_fails_the_expected_date(example_run, examples_dir):
    summary = json.loads((examples_dir / "expected" / "summary.json").read_text())
    first_run, _ = example_run["results"]
    assert [d.isoformat() for d in first_run.failed_dates] == summary["gated_ingest_dates"]


def test_bronze_counts(spark, example_run, examples_dir):
    with (examples_dir / "expected" / "bronze_counts.csv").open() as handle:
        expected = {(r["ingest_date"],): int(r["rows"]) for r in csv.DictReader(handle)}
    assert counts(spark, example_run["root"], BRONZE_TABLE, "ingest_date") == expected
    # The runs report what they wrote (observed during the write, not read back).
    first, second = example_run["results"]
    reported = {
        **first.steps["bronze"].detail["rows_by_ingest_date"],
        **second.steps["bronze"].detail["rows_by_ingest_date"],
    }
    assert {(d,): n for d, n in reported.items()} == expected


def test_quarantine_counts(spark, example_run, examples_dir):
    with (examples_dir / "expected" / "quarantine_counts.csv").open() as handle:
        expected = {(r["ingest_date"], r["reason"]): int(r["rows"]) for r in csv.DictReader(handle)}
    actual = counts(spark, example_run["root"], QUARANTINE_TABLE, "ingest_date", "reason")
    assert actual == expected


@pytest.mark.parametrize("table", sorted(SILVER))
def test_silver_table(spark, example_run, examples_dir, table):
    df = spark.read.format("delta").load(f"{example_run['root']}/{SILVER_TABLES[table]}")
    assert df.schema == SILVER[table]
    actual = [r.asDict() for r in df.drop("ingest_date").collect()]
    expected = expected_rows(examples_dir / "expected" / f"silver__{table}.csv", SILVER[table])
    assert_rows_match(actual, expected, ["event_id"])


@pytest.mark.parametrize("table", sorted(GOLD))
def test_gold_table(spark, example_run, examples_dir, table):
    df = spark.read.format("delta").load(f"{example_run['root']}/{GOLD_TABLES[table]}")
    assert df.schema == GOLD[table]
    actual = [r.asDict() for r in df.collect()]
    expected = expected_rows(examples_dir / "expected" / f"gold__{table}.csv", GOLD[table])
    assert_rows_match(actual, expected, GOLD_KEYS[table])


def test_user_features(spark, example_run, examples_dir):
    df = spark.read.format("delta").load(f"{example_run['root']}/{FEATURES_TABLE}")
    assert df.schema == USER_FEATURES
    actual = [r.asDict() for r in df.collect()]
    expected = expected_rows(
        examples_dir / "expected" / "features__user_features.csv", USER_FEATURES
    )
    assert_rows_match(actual, expected, ["as_of_date", "user_id"])


def test_no_pii_outside_bronze_and_quarantine(spark, example_run):
    root = example_run["root"]
    for table in [*SILVER_TABLES.values(), *GOLD_TABLES.values(), FEATURES_TABLE]:
        columns = spark.read.format("delta").load(f"{root}/{table}").columns
        assert not {"email", "ip", "raw"} & set(columns), table
