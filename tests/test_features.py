"""features/user_features: the contract's worked example, incremental updates, deletions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from test_gold import (
    LAST_DAY,
    append_silver,
    assert_same_rows,
    changed_keys,
    copy_lakehouse,
    deltalake_rows,
    expected_rows,
    keyed,
    rows_of,
    silver_frame,
    silver_frames,
    write_example_silver,
)

from pipelines.delta_io import read_table, table_path, table_version
from pipelines.features import update_features
from pipelines.gold import max_event_date
from schemas.tables import FEATURES_TABLE, SILVER_TABLES, USER_FEATURES
from transformations.features import user_features

KEYS = ("user_id", "as_of_date")


@pytest.fixture(scope="module")
def lakehouse(spark: SparkSession, examples_dir: Path, tmp_path_factory) -> str:
    """A lakehouse with the example's silver tables and the features built in full."""
    root = str(tmp_path_factory.mktemp("features") / "lakehouse")
    write_example_silver(spark, examples_dir, root)
    assert update_features(spark, root, None)["mode"] == "full"
    return root


def feature_rows(spark: SparkSession, root: str, version: int | None = None) -> dict:
    df = read_table(spark, table_path(root, FEATURES_TABLE), version)
    return keyed(rows_of(df, USER_FEATURES), USER_FEATURES, KEYS)


def rebuilt(spark: SparkSession, root: str) -> dict:
    """What a full rebuild from the root's silver gives."""
    silver = silver_frames(spark, root)
    df = user_features(
        silver["signups"],
        silver["logins"],
        silver["api_requests"],
        silver["ai_completions"],
        max_event_date(silver.values()),
    )
    return keyed(rows_of(df, USER_FEATURES), USER_FEATURES, KEYS)


def event(user: str, day: date, event_id: str, **payload) -> dict:
    return {
        "event_id": event_id,
        "tenant_id": "t-0001",
        "user_id": user,
        "occurred_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
        "event_date": day,
        "ingest_date": date(2026, 10, 25),
        "event_version": 1,
        **payload,
    }


def test_full_build_matches_contract(spark, lakehouse, examples_dir):
    df = read_table(spark, table_path(lakehouse, FEATURES_TABLE))
    assert [(f.name, f.dataType) for f in df.schema] == [
        (f.name, f.dataType) for f in USER_FEATURES
    ]
    expected = expected_rows(
        examples_dir / "expected" / "features__user_features.csv", USER_FEATURES
    )
    assert_same_rows(rows_of(df, USER_FEATURES), expected, USER_FEATURES)


def test_deltalake_reads_the_same_rows(spark, lakehouse):
    path = table_path(lakehouse, FEATURES_TABLE)
    spark_rows = rows_of(read_table(spark, path), USER_FEATURES)
    assert_same_rows(deltalake_rows(path, USER_FEATURES), spark_rows, USER_FEATURES)


def test_subsets_match_the_full_table(spark, examples_dir):
    silver = {n: silver_frame(spark, examples_dir, n) for n in SILVER_TABLES}
    args = [silver[n] for n in ("signups", "logins", "api_requests", "ai_completions")]
    full = rows_of(user_features(*args, LAST_DAY), USER_FEATURES)
    dates = {date(2026, 10, 21), LAST_DAY, date(2026, 10, 30)}  # the last is past the data
    users = {"u-500003", "u-500013", "u-500055", "u-nobody"}
    subset = user_features(*args, LAST_DAY, as_of_dates=dates, users=users)
    want = [r for r in full if r[0] in dates and r[1] in users]
    assert len(want) == 5
    assert_same_rows(rows_of(subset, USER_FEATURES), want, USER_FEATURES)


def test_late_events_update_exactly_the_rows_that_depend_on_them(spark, lakehouse, tmp_path):
    root = copy_lakehouse(lakehouse, tmp_path / "lakehouse")
    path = table_path(root, FEATURES_TABLE)
    version = table_version(path)
    window_day = LAST_DAY - timedelta(days=20)  # inside the 28-day windows of 10-20..10-23
    reach_day = LAST_DAY - timedelta(days=33)  # outside: only days_since_last_login sees it
    next_day = LAST_DAY + timedelta(days=1)  # the greatest event_date grows
    login = {"auth_method": "sso", "device": "android"}
    append_silver(
        spark,
        root,
        "logins",
        [
            event("u-500000", reach_day, "late-login-1", **login),
            event("u-500001", window_day, "late-login-2", **login),
        ],
    )
    signup = {"plan": "pro", "country": "NL", "email_sha256": "0" * 64}
    append_silver(
        spark, root, "signups", [event("u-late-2", window_day, "late-signup-1", **signup)]
    )
    api = {"method": "GET", "route": "/v1/x", "api_version": "v1", "status_code": 200}
    append_silver(
        spark,
        root,
        "api_requests",
        [
            event(
                "u-500002",
                next_day,
                "new-day-1",
                latency_ms=1.0,
                tier="pro",
                throttled=False,
                **api,
            )
        ],
    )

    result = update_features(spark, root, {reach_day, window_day, next_day})

    assert table_version(path) == version + 1  # one commit
    before, after = feature_rows(spark, root, version), feature_rows(spark, root)
    assert_same_rows(list(after.values()), list(rebuilt(spark, root).values()), USER_FEATURES)
    old_users = {user for user, _ in before}
    late_user_days = (next_day - window_day).days + 1
    expected = (
        {(u, d) for u, d in before if u in ("u-500000", "u-500001")}
        | {(u, next_day) for u in old_users}
        | {("u-late-2", window_day + timedelta(days=k)) for k in range(late_user_days)}
    )
    assert changed_keys(before, after) == expected
    assert (result["rows_inserted"], result["rows_updated"], result["rows_deleted"]) == (
        len(old_users) + late_user_days,
        8,
        0,
    )

    names = USER_FEATURES.fieldNames()
    row = dict(zip(names, after[("u-500000", LAST_DAY)], strict=True))
    assert (row["logins_28d"], row["days_since_last_login"]) == (0, 33)
    row = dict(zip(names, after[("u-500001", LAST_DAY)], strict=True))
    assert (row["logins_28d"], row["distinct_devices_28d"], row["days_since_last_login"]) == (
        1,
        1,
        20,
    )
    row = dict(zip(names, after[("u-late-2", window_day)], strict=True))
    assert (row["tenant_id"], row["plan"], row["country"], row["days_since_signup"]) == (
        "t-0001",
        "pro",
        "NL",
        0,
    )


def test_erased_user_disappears(spark, lakehouse, tmp_path):
    root = copy_lakehouse(lakehouse, tmp_path / "lakehouse")
    version = table_version(table_path(root, FEATURES_TABLE))
    user = "u-500003"  # signed up 2026-10-20, with api, ai and login activity
    dates: set[date] = set()
    for relative in SILVER_TABLES.values():
        silver_path = table_path(root, relative)
        rows = read_table(spark, silver_path).where(F.col("user_id") == user).collect()
        if rows:
            dates |= {r["event_date"] for r in rows}
            spark.sql(f"DELETE FROM delta.`{silver_path}` WHERE user_id = '{user}'")
    assert dates

    result = update_features(spark, root, dates)

    before, after = feature_rows(spark, root, version), feature_rows(spark, root)
    assert_same_rows(list(after.values()), list(rebuilt(spark, root).values()), USER_FEATURES)
    assert changed_keys(before, after) == {k for k in before if k[0] == user}
    assert result["rows_deleted"] == len([k for k in before if k[0] == user]) > 0


def test_no_changes_writes_nothing(spark, lakehouse):
    version = table_version(table_path(lakehouse, FEATURES_TABLE))
    result = update_features(spark, lakehouse, set())
    assert result["as_of_dates"] == []
    assert table_version(table_path(lakehouse, FEATURES_TABLE)) == version
