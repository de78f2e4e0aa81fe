"""The incremental features diff as a pure function: no Delta table, silver from the CSVs.

Applying `feature_changes` to the features of an older silver must give exactly the
features of the newer one, for a changed middle date and a new last date at once.
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from test_gold import LAST_DAY, assert_same_rows, rows_of, silver_frame

from schemas.tables import SILVER, USER_FEATURES
from transformations.features import user_features
from transformations.features_incremental import KEYS, feature_changes

CHANGED_DAY = LAST_DAY - timedelta(days=2)


def features_of(silver: dict[str, DataFrame]) -> tuple[DataFrame, object]:
    m = max(r[0] for r in (df.agg(F.max("event_date")).first() for df in silver.values()) if r[0])
    frame = user_features(
        silver["signups"], silver["logins"], silver["api_requests"], silver["ai_completions"], m
    )
    return frame, m


def apply(stored: DataFrame, changes: DataFrame) -> DataFrame:
    kept = stored.join(changes.select(*KEYS), list(KEYS), "left_anti")
    return kept.unionByName(changes.where(~F.col("_delete")).drop("_delete", "_stored"))


def test_the_diff_brings_older_features_in_step_with_newer_silver(spark, examples_dir):
    newer = {name: silver_frame(spark, examples_dir, name).cache() for name in SILVER}
    older = {
        name: df.where((F.col("event_date") != CHANGED_DAY) & (F.col("event_date") < LAST_DAY))
        for name, df in newer.items()
    }
    stored, m_old = features_of(older)
    wanted, m_new = features_of(newer)
    assert m_new == LAST_DAY and m_old < m_new

    changes = feature_changes(stored, newer, {CHANGED_DAY, LAST_DAY}, m_old, m_new)
    assert changes is not None
    updated = apply(stored.cache(), changes.cache())
    assert_same_rows(rows_of(updated, USER_FEATURES), rows_of(wanted, USER_FEATURES), USER_FEATURES)
    # `_stored` marks exactly the keys the stored table holds (updates and deletes).
    assert changes.where("_stored").join(stored, list(KEYS), "left_anti").count() == 0
    assert changes.where(~F.col("_stored")).join(stored, list(KEYS), "left_semi").count() == 0
    assert changes.where("_stored").count() > 0
    # Only rows from the changed date on are touched; earlier ones are left as stored.
    assert changes.where(F.col("as_of_date") < CHANGED_DAY).count() == 0
    assert changes.count() < wanted.count()


def test_nothing_changes_when_silver_did_not(spark, examples_dir):
    silver = {name: silver_frame(spark, examples_dir, name) for name in SILVER}
    stored, m = features_of(silver)
    changes = feature_changes(stored.cache(), silver, {CHANGED_DAY}, m, m)
    assert changes is not None and changes.count() == 0
