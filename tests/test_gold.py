"""Gold tables: the contract's worked example, incremental updates, other Delta readers.

The helpers at the top (loading the example's silver tables, comparing rows exactly) are
shared with test_features.py and test_training_set.py.
"""

from __future__ import annotations

import csv
import math
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from orchestration.delta_rs import read_table as delta_rs_table
from pipelines.delta_io import read_table, table_path, table_version
from pipelines.gold import update_gold
from schemas.tables import GOLD, GOLD_TABLES, SILVER, SILVER_TABLES
from transformations import gold as T

LAST_DAY = date(2026, 10, 23)  # greatest event_date of the example
LATE_DAY = LAST_DAY - timedelta(days=20)

# --- shared helpers -------------------------------------------------------------------


def silver_frame(spark: SparkSession, examples_dir: Path, name: str) -> DataFrame:
    """expected/silver__<name>.csv with the exact silver schema (ingest_date left null)."""
    schema = SILVER[name]
    csv_schema = StructType([f for f in schema.fields if f.name != "ingest_date"])
    df = (
        spark.read.option("header", True)
        .option("timestampFormat", "yyyy-MM-dd HH:mm:ss.SSSSSS")
        .schema(csv_schema)
        .csv(str(examples_dir / "expected" / f"silver__{name}.csv"))
    )
    return df.withColumn("ingest_date", F.lit(None).cast("date")).select(*schema.fieldNames())


def write_example_silver(spark: SparkSession, examples_dir: Path, root: str) -> None:
    for name, relative in SILVER_TABLES.items():
        frame = silver_frame(spark, examples_dir, name)
        frame.write.format("delta").partitionBy("event_date").save(table_path(root, relative))


def append_silver(spark: SparkSession, root: str, name: str, rows: list[dict]) -> None:
    schema = SILVER[name]
    records = [tuple(row.get(f.name) for f in schema.fields) for row in rows]
    df = spark.createDataFrame(records, schema)
    df.write.format("delta").mode("append").save(table_path(root, SILVER_TABLES[name]))


def expected_rows(path: Path, schema: StructType) -> list[tuple]:
    """A contract CSV as typed tuples (empty cell = null)."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == schema.fieldNames(), path.name
        return [tuple(_parse(row[c.name], c.dataType.typeName()) for c in schema) for row in reader]


def _parse(text: str, type_name: str) -> object:
    if text == "":
        return None
    if type_name == "date":
        return date.fromisoformat(text)
    if type_name == "timestamp":
        return datetime.fromisoformat(text)
    if type_name in ("integer", "long"):
        value = float(text) if "." in text else int(text)  # "2.0": a pandas-written int
        assert value == int(value), text
        return int(value)
    if type_name == "double":
        return float(text)
    if type_name == "boolean":
        return text.lower() == "true"
    return text


def rows_of(df: DataFrame, schema: StructType) -> list[tuple]:
    return [tuple(row[c] for c in schema.fieldNames()) for row in df.collect()]


def assert_same_rows(actual: list[tuple], expected: list[tuple], schema: StructType) -> None:
    """Same multiset of rows; doubles equal to 1e-9 relative, nulls equal only to nulls."""
    doubles = [i for i, f in enumerate(schema.fields) if f.dataType.typeName() == "double"]

    def key(row: tuple) -> tuple:
        return tuple((v is None, str(v)) for i, v in enumerate(row) if i not in doubles)

    actual, expected = sorted(actual, key=key), sorted(expected, key=key)
    assert len(actual) == len(expected), f"{len(actual)} rows, expected {len(expected)}"
    for got, want in zip(actual, expected, strict=True):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            name = schema.fields[i].name
            if i in doubles and a is not None and b is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (name, got, want)
            else:
                assert a == b, (name, got, want)


def keyed(rows: list[tuple], schema: StructType, keys: tuple[str, ...]) -> dict[tuple, tuple]:
    index = [schema.fieldNames().index(k) for k in keys]
    out = {tuple(r[i] for i in index): r for r in rows}
    assert len(out) == len(rows), "duplicate keys"
    return out


def deltalake_rows(path: str, schema: StructType) -> list[tuple]:
    table = delta_rs_table(path)
    frame = table.to_pandas()
    records = table.to_pylist()
    assert len(frame) == len(records)
    assert list(frame.columns) == schema.fieldNames()
    return [tuple(r[c] for c in schema.fieldNames()) for r in records]


# --- fixtures ---------------------------------------------------------------------------

GOLD_KEYS = {
    "daily_active_users": ("event_date", "tenant_id"),
    "api_usage_daily": ("event_date", "tenant_id", "api_version"),
    "ai_usage_daily": ("event_date", "tenant_id", "model"),
    "revenue_daily": ("event_date", "tenant_id", "currency"),
    "signups_daily": ("event_date", "plan", "country"),
}


@pytest.fixture(scope="module")
def lakehouse(spark: SparkSession, examples_dir: Path, tmp_path_factory) -> str:
    """A lakehouse with the example's silver tables and gold built in full."""
    root = str(tmp_path_factory.mktemp("gold") / "lakehouse")
    write_example_silver(spark, examples_dir, root)
    result = update_gold(spark, root, None)
    assert {r["mode"] for r in result.values()} == {"full"}
    return root


def copy_lakehouse(source: str, target: Path) -> str:
    shutil.copytree(source, target)
    return str(target)


def gold_rows(spark: SparkSession, root: str, table: str, version: int | None = None) -> dict:
    df = read_table(spark, table_path(root, GOLD_TABLES[table]), version)
    return keyed(rows_of(df, GOLD[table]), GOLD[table], GOLD_KEYS[table])


def silver_frames(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    return {n: read_table(spark, table_path(root, p)) for n, p in SILVER_TABLES.items()}


def rebuilt(spark: SparkSession, root: str, table: str) -> dict:
    """What a full rebuild of this gold table from the root's silver gives."""
    silver = silver_frames(spark, root)
    df = {
        "daily_active_users": lambda: T.daily_active_users(
            silver["api_requests"], silver["ai_completions"], silver["logins"]
        ),
        "api_usage_daily": lambda: T.api_usage_daily(silver["api_requests"]),
        "ai_usage_daily": lambda: T.ai_usage_daily(silver["ai_completions"]),
        "revenue_daily": lambda: T.revenue_daily(silver["invoices"]),
        "signups_daily": lambda: T.signups_daily(silver["signups"]),
    }[table]()
    return keyed(rows_of(df, GOLD[table]), GOLD[table], GOLD_KEYS[table])


def changed_keys(before: dict, after: dict) -> set[tuple]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def assert_same_table(actual: dict, expected: dict, schema: StructType) -> None:
    assert_same_rows(list(actual.values()), list(expected.values()), schema)


# --- the worked example -------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(GOLD))
def test_full_build_matches_contract(spark, lakehouse, examples_dir, table):
    schema = GOLD[table]
    path = table_path(lakehouse, GOLD_TABLES[table])
    df = read_table(spark, path)
    assert [(f.name, f.dataType) for f in df.schema] == [(f.name, f.dataType) for f in schema]
    expected = expected_rows(examples_dir / "expected" / f"gold__{table}.csv", schema)
    assert_same_rows(rows_of(df, schema), expected, schema)


@pytest.mark.parametrize("table", sorted(GOLD))
def test_deltalake_reads_the_same_rows(spark, lakehouse, table):
    schema = GOLD[table]
    path = table_path(lakehouse, GOLD_TABLES[table])
    spark_rows = rows_of(read_table(spark, path), schema)
    assert_same_rows(deltalake_rows(path, schema), spark_rows, schema)


def test_subset_of_dates_matches_full(spark, examples_dir):
    api = silver_frame(spark, examples_dir, "api_requests")
    ai = silver_frame(spark, examples_dir, "ai_completions")
    logins = silver_frame(spark, examples_dir, "logins")
    dates = {date(2026, 10, 4), date(2026, 10, 19), date(2026, 10, 22)}
    schema = GOLD["daily_active_users"]
    full = [r for r in rows_of(T.daily_active_users(api, ai, logins), schema) if r[0] in dates]
    # Inputs cut to what the dates need give the same rows.
    needed = sorted(T.required_event_dates("daily_active_users", dates))
    cut = [df.where(F.col("event_date").isin(needed)) for df in (api, ai, logins)]
    subset = rows_of(T.daily_active_users(*cut, dates=dates), schema)
    assert_same_rows(subset, full, schema)


def test_date_helpers():
    d = date(2026, 10, 3)
    assert T.required_event_dates("api_usage_daily", {d}) == {d}
    needed = T.required_event_dates("daily_active_users", {d})
    assert min(needed) == d - timedelta(days=27) and max(needed) == d and len(needed) == 28
    affected = T.affected_gold_dates("daily_active_users", {d})
    assert min(affected) == d and max(affected) == d + timedelta(days=27)
    capped = T.affected_gold_dates("daily_active_users", {d}, max_date=LAST_DAY)
    assert max(capped) == LAST_DAY and min(capped) == d
    assert T.affected_gold_dates("revenue_daily", {d, LAST_DAY}) == {d, LAST_DAY}


def test_first_signup_rule(spark):
    schema = SILVER["signups"]
    t = datetime(2026, 10, 5, 12, 0)
    rows = [
        # Same instant: the smaller event_id wins, whatever the tenant or plan.
        ("b", "t-2", "u-1", t, t.date(), None, 1, "pro", "DE", "x", None),
        ("a", "t-1", "u-1", t, t.date(), None, 1, "free", "FR", "x", None),
        (
            "c",
            "t-1",
            "u-1",
            t + timedelta(days=3),
            date(2026, 10, 8),
            None,
            1,
            "pro",
            "US",
            "x",
            None,
        ),
        (
            "d",
            "t-3",
            "u-2",
            t + timedelta(days=3),
            date(2026, 10, 8),
            None,
            1,
            "pro",
            "US",
            "x",
            None,
        ),
    ]
    signups = spark.createDataFrame(rows, schema)
    out = rows_of(T.signups_daily(signups), GOLD["signups_daily"])
    assert sorted(out) == [
        (date(2026, 10, 5), "free", "FR", 1),
        (date(2026, 10, 8), "pro", "US", 1),
    ]
    # Rebuilding only Oct 8 needs u-1's earlier signup too, or "c" would count as first.
    oct8 = [date(2026, 10, 8)]
    history = T.signup_history(signups, oct8)
    assert sorted(r.event_id for r in history.collect()) == ["a", "b", "c", "d"]
    only = rows_of(T.signups_daily(history, dates=oct8), GOLD["signups_daily"])
    assert only == [(date(2026, 10, 8), "pro", "US", 1)]
    assert T.signup_history(signups.where("user_id = 'u-2'"), oct8).count() == 1


# --- incremental ----------------------------------------------------------------------------


def test_late_events_update_only_the_rows_that_depend_on_them(spark, lakehouse, tmp_path):
    root = copy_lakehouse(lakehouse, tmp_path / "lakehouse")
    paths = {t: table_path(root, GOLD_TABLES[t]) for t in GOLD}
    versions = {t: table_version(p) for t, p in paths.items()}
    tenant = "t-0009"  # active on LATE_DAY + 1, + 10 and + 16 in the example
    signup_day = date(2026, 10, 5)
    late = {"ingest_date": date(2026, 10, 24), "event_version": 1}
    api = {
        "method": "GET",
        "route": "/v1/projects",
        "api_version": "v1",
        "status_code": 503,
        "latency_ms": 12.5,
        "tier": "free",
        "throttled": False,
    }
    append_silver(
        spark,
        root,
        "api_requests",
        [
            {
                "event_id": "late-api-1",
                "tenant_id": tenant,
                "user_id": "u-late-1",
                "occurred_at": datetime(2026, 10, 3, 12, 0),
                "event_date": LATE_DAY,
                **late,
                **api,
            }
        ],
    )
    # u-500000 first signed up on 2026-10-20 (pro, DE); a late, earlier signup arrives.
    append_silver(
        spark,
        root,
        "signups",
        [
            {
                "event_id": "late-signup-1",
                "tenant_id": "t-0020",
                "user_id": "u-500000",
                "occurred_at": datetime(2026, 10, 5, 8, 0),
                "event_date": signup_day,
                **late,
                "plan": "free",
                "country": "US",
                "email_sha256": "0" * 64,
            }
        ],
    )

    result = update_gold(spark, root, {LATE_DAY, signup_day})

    dau_dates = {date.fromisoformat(d) for d in result["daily_active_users"]["dates"]}
    assert dau_dates == {LATE_DAY + timedelta(days=k) for k in range(21)}  # capped at LAST_DAY
    assert result["signups_daily"]["dates"] == ["2026-10-03", "2026-10-05", "2026-10-20"]
    before = {t: gold_rows(spark, root, t, versions[t]) for t in GOLD}
    after = {t: gold_rows(spark, root, t) for t in GOLD}
    for table in GOLD:
        assert table_version(paths[table]) <= versions[table] + 1  # one commit at most
        assert_same_table(after[table], rebuilt(spark, root, table), GOLD[table])

    # dau/wau/mau: the late user counts on LATE_DAY and in the windows that hold it.
    dau_before, dau_after = before["daily_active_users"], after["daily_active_users"]
    expected_changed = {(LATE_DAY, tenant)} | {
        k for k in dau_before if k[1] == tenant and LATE_DAY <= k[0] <= LATE_DAY + timedelta(27)
    }
    assert changed_keys(dau_before, dau_after) == expected_changed
    assert dau_after[(LATE_DAY, tenant)] == (LATE_DAY, tenant, 1, 1, 1)
    for day, t in expected_changed - {(LATE_DAY, tenant)}:
        _, _, dau, wau, mau = dau_before[(day, t)]
        in_week = (day - LATE_DAY).days < 7
        assert dau_after[(day, t)] == (day, t, dau, wau + in_week, mau + 1)

    new_key = (LATE_DAY, tenant, "v1")
    assert changed_keys(before["api_usage_daily"], after["api_usage_daily"]) == {new_key}
    assert after["api_usage_daily"][new_key] == (*new_key, 1, 0, 1, 0, 12.5, 12.5, 12.5)

    # The user's first signup moved from 2026-10-20 (pro, DE) to 2026-10-05 (free, US).
    signups_before, signups_after = before["signups_daily"], after["signups_daily"]
    moved_from, moved_to = (date(2026, 10, 20), "pro", "DE"), (signup_day, "free", "US")
    assert changed_keys(signups_before, signups_after) == {moved_from, moved_to}
    assert signups_after[moved_to][-1] == 1
    old_count = signups_before[moved_from][-1]
    assert signups_after.get(moved_from, (0,))[-1] == old_count - 1

    for table in ("ai_usage_daily", "revenue_daily"):
        assert after[table] == before[table]


def test_no_changes_writes_nothing(spark, lakehouse):
    versions = {t: table_version(table_path(lakehouse, GOLD_TABLES[t])) for t in GOLD}
    result = update_gold(spark, lakehouse, set())
    assert all(r["rows_written"] == 0 for r in result.values())
    assert versions == {t: table_version(table_path(lakehouse, GOLD_TABLES[t])) for t in GOLD}


def test_the_greatest_silver_event_date_is_computed_once_per_state_of_silver(spark, tmp_path):
    from pipelines.gold import _max_event_date_at, silver_max_event_date

    root = str(tmp_path / "lakehouse")
    logins = table_path(root, SILVER_TABLES["logins"])

    def write(day: date, mode: str) -> None:
        row = {f.name: None for f in SILVER["logins"].fields} | {"event_date": day}
        frame = spark.createDataFrame([row], SILVER["logins"])
        frame.write.format("delta").mode(mode).partitionBy("event_date").save(logins)

    assert silver_max_event_date(spark, root) is None  # no silver table yet
    write(date(2026, 10, 20), "append")
    assert silver_max_event_date(spark, root) == date(2026, 10, 20)
    computed = _max_event_date_at.cache_info().misses
    assert silver_max_event_date(spark, root) == date(2026, 10, 20)
    assert _max_event_date_at.cache_info().misses == computed  # same state: not again
    write(date(2026, 10, 23), "append")  # a new commit
    assert silver_max_event_date(spark, root) == date(2026, 10, 23)
    shutil.rmtree(logins)  # made again: its versions start over at 0
    write(date(2026, 10, 21), "append")
    assert silver_max_event_date(spark, root) == date(2026, 10, 21)
