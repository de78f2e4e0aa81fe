"""Point-in-time training sets, and the registry and docs they rest on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)
from test_gold import assert_same_rows, silver_frame

from feature_store.docs import DOCS_PATH, render_markdown
from feature_store.registry import FEATURES, feature_names, get_feature
from feature_store.training import TrainingSetError, get_training_set
from pipelines.gold import max_event_date
from schemas.tables import FEATURES_TABLE, SILVER_TABLES, USER_FEATURES
from transformations.features import user_features

LABELS = StructType(
    [
        StructField("user_id", StringType()),
        StructField("label_time", TimestampType()),
        StructField("churned", LongType()),
    ]
)


@pytest.fixture(scope="module")
def silver(spark: SparkSession, examples_dir: Path) -> dict[str, DataFrame]:
    return {n: silver_frame(spark, examples_dir, n) for n in SILVER_TABLES}


@pytest.fixture(scope="module")
def lakehouse(spark: SparkSession, silver, tmp_path_factory) -> str:
    """A lakehouse holding only the example's features table."""
    root = str(tmp_path_factory.mktemp("training") / "lakehouse")
    features = user_features(*_inputs(silver), max_event_date(silver.values()))
    features.write.format("delta").partitionBy("as_of_date").save(f"{root}/{FEATURES_TABLE}")
    return root


def _inputs(silver: dict[str, DataFrame]) -> list[DataFrame]:
    return [silver[n] for n in ("signups", "logins", "api_requests", "ai_completions")]


@pytest.fixture(scope="module")
def snapshots(spark: SparkSession):
    """Hand-made snapshots of one user: logins_7d = day of October, to tell them apart."""
    rows = [
        (date(2026, 10, d), "u-1", "t-1", "pro", "DE", d - 20, d, d, 1, 0, 0, 0, 0, 0.0)
        for d in (20, 21, 22)
    ]
    return spark.createDataFrame(rows, USER_FEATURES)


def labels_of(spark: SparkSession, rows: list[tuple]):
    return spark.createDataFrame(rows, LABELS)


def test_label_gets_the_snapshot_of_the_day_before(spark, snapshots):
    labels = labels_of(
        spark,
        [
            ("u-1", datetime(2026, 10, 22, 0, 0, tzinfo=UTC), 1),
            ("u-1", datetime(2026, 10, 22, 23, 59, 59, 999999, tzinfo=UTC), 2),
            ("u-1", datetime(2026, 10, 21, 23, 59, 59, tzinfo=UTC), 3),
            ("u-1", datetime(2026, 10, 23, 1, 0, tzinfo=UTC), 4),
            # Before the first snapshot, unknown user, no time: no features.
            ("u-1", datetime(2026, 10, 20, 12, 0, tzinfo=UTC), 5),
            ("u-9", datetime(2026, 10, 22, 12, 0, tzinfo=UTC), 6),
            ("u-1", None, 7),
        ],
    )
    out = get_training_set(spark, labels, ["logins_7d", "plan"], features_df=snapshots)
    assert out.columns == ["user_id", "label_time", "churned", "logins_7d", "plan"]
    got = {r["churned"]: (r["logins_7d"], r["plan"]) for r in out.collect()}
    assert got == {
        1: (21, "pro"),
        2: (21, "pro"),
        3: (20, "pro"),
        4: (22, "pro"),
        5: (None, None),
        6: (None, None),
        7: (None, None),
    }


def test_label_day_is_the_utc_day_whatever_the_session_time_zone(spark, snapshots):
    labels = labels_of(spark, [("u-1", datetime(2026, 10, 22, 2, 0, tzinfo=UTC), 1)])
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")  # 10-21 19:00 there
    try:
        out = get_training_set(spark, labels, ["logins_7d"], features_df=snapshots).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert out[0]["logins_7d"] == 21


def test_date_labels(spark, snapshots):
    schema = StructType(
        [StructField("user_id", StringType()), StructField("label_time", DateType())]
    )
    labels = spark.createDataFrame([("u-1", date(2026, 10, 22))], schema)
    out = get_training_set(spark, labels, ["logins_7d"], features_df=snapshots).collect()
    assert out[0]["logins_7d"] == 21


def test_training_rows_never_see_the_label_day(spark, lakehouse, silver):
    """Each training row equals features computed from silver cut before the label's day."""
    picks = [
        ("u-500003", datetime(2026, 10, 22, 8, 30, tzinfo=UTC)),
        ("u-500013", datetime(2026, 10, 22, 0, 0, tzinfo=UTC)),
        ("u-500006", datetime(2026, 10, 23, 9, 0, tzinfo=UTC)),  # logins, never signed up
        ("u-500010", datetime(2026, 10, 24, 0, 0, 1, tzinfo=UTC)),
        ("u-500051", datetime(2026, 10, 23, 18, 0, tzinfo=UTC)),  # signed up that day
        ("u-500000", datetime(2026, 10, 20, 23, 0, tzinfo=UTC)),  # signed up that day
    ]
    labels = labels_of(spark, [(u, t, i) for i, (u, t) in enumerate(picks)])
    training = get_training_set(spark, labels, root=lakehouse)
    assert training.columns == ["user_id", "label_time", "churned", *feature_names()]
    got = {r["churned"]: r for r in training.collect()}

    names = feature_names()
    for i, (user, label_time) in enumerate(picks):
        day = label_time.date()
        cut = {n: df.where(F.col("event_date") < day) for n, df in silver.items()}
        want = user_features(
            *_inputs(cut),
            day - timedelta(days=1),
            as_of_dates={day - timedelta(days=1)},
            users={user},
        )
        want_rows = [tuple(r[n] for n in names) for r in want.collect()]
        have = tuple(got[i][n] for n in names)
        if not want_rows:
            assert have == (None,) * len(names), (user, label_time)
        else:
            schema = StructType([USER_FEATURES[n] for n in names])
            assert_same_rows([have], want_rows, schema)
    assert got[0]["days_since_signup"] is not None  # the example has real hits
    assert got[4]["days_since_signup"] is None and got[5]["days_since_signup"] is None


def test_reads_the_features_table_under_root(spark, lakehouse):
    labels = labels_of(spark, [("u-500003", datetime(2026, 10, 23, 12, 0, tzinfo=UTC), 1)])
    out = get_training_set(spark, labels, ["days_since_signup"], root=lakehouse).collect()
    assert out[0]["days_since_signup"] == 2
    table = spark.read.format("delta").load(f"{lakehouse}/features/user_features")
    same = get_training_set(spark, labels, ["days_since_signup"], features_df=table).collect()
    assert same == out


@pytest.mark.parametrize(
    ("labels", "features", "message"),
    [
        ([("user_id", StringType())], None, "lack column.*label_time"),
        ([("label_time", TimestampType())], None, "lack column.*user_id"),
        ([("user_id", LongType()), ("label_time", TimestampType())], None, "user_id must be"),
        ([("user_id", StringType()), ("label_time", StringType())], None, "label_time must be"),
        ([("user_id", StringType()), ("label_time", TimestampType())], ["nope"], "unknown"),
        ([("user_id", StringType()), ("label_time", TimestampType())], "logins_7d", "a list"),
        ([("user_id", StringType()), ("label_time", TimestampType())], [], "empty"),
        (
            [("user_id", StringType()), ("label_time", TimestampType()), ("plan", StringType())],
            None,
            "already have.*plan",
        ),
    ],
)
def test_bad_input_raises(spark, snapshots, labels, features, message):
    schema = StructType([StructField(n, t) for n, t in labels])
    df = spark.createDataFrame([], schema)
    with pytest.raises(TrainingSetError, match=message):
        get_training_set(spark, df, features, features_df=snapshots)


def test_bad_sources_raise(spark, snapshots):
    labels = labels_of(spark, [])
    with pytest.raises(TrainingSetError, match="features_df or the lakehouse root"):
        get_training_set(spark, labels)
    with pytest.raises(TrainingSetError, match="lack column 'logins_7d'"):
        get_training_set(spark, labels, ["logins_7d"], features_df=snapshots.drop("logins_7d"))
    with pytest.raises(TrainingSetError, match="must be bigint"):
        wrong = snapshots.withColumn("logins_7d", F.col("logins_7d").cast("string"))
        get_training_set(spark, labels, ["logins_7d"], features_df=wrong)
    with pytest.raises(ValueError):  # TrainingSetError is a ValueError
        get_training_set(spark, "not a dataframe", features_df=snapshots)  # type: ignore[arg-type]


def test_registry_matches_the_table_schema():
    keys = ("as_of_date", "user_id")
    assert feature_names() == [n for n in USER_FEATURES.fieldNames() if n not in keys]
    for feature in FEATURES:
        assert feature.dtype == USER_FEATURES[feature.name].dataType.simpleString()
        assert feature.description and feature.window and feature.sources
        assert feature.entity == "user"
    assert get_feature("logins_7d").window.startswith("7 days")
    with pytest.raises(KeyError, match="known features"):
        get_feature("nope")


def test_docs_are_generated_from_the_registry():
    text = render_markdown()
    for feature in FEATURES:
        assert f"`{feature.name}`" in text
    assert DOCS_PATH.read_text(encoding="utf-8") == text, "run python -m feature_store.docs"
