"""Keep features/user_features exactly in step with silver, recomputing only what changed.

Which rows change is decided in `transformations/features_incremental.py` (pure
DataFrame functions, explained there); this module reads the stored table and silver,
and writes the differences in ONE commit (or rebuilds the table when asked to).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import (
    merge_rows,
    read_table,
    replace_table,
    rows_written,
    sql_dates,
    table_exists,
    table_path,
    table_version,
)
from pipelines.gold import read_silver, silver_max_event_date
from pipelines.locks import exclusive
from schemas.tables import FEATURES_TABLE, SILVER_TABLES, USER_FEATURES
from transformations.features import user_features
from transformations.features_incremental import KEYS, feature_changes

PARTITION_BY = ("as_of_date",)


def update_features(spark: SparkSession, root: str, changed_event_dates: set[date] | None) -> dict:
    """Bring features/user_features in step with silver; None rebuilds the table.

    Returns {"mode", "max_event_date", "as_of_dates", "rows_inserted", "rows_updated",
    "rows_deleted"} (full rebuilds: "rows_written").
    """
    with exclusive(root):  # features are decided from silver: one run at a time (locks.py)
        return _update(spark, root, changed_event_dates)


def _update(spark: SparkSession, root: str, changed_event_dates: set[date] | None) -> dict:
    path = table_path(root, FEATURES_TABLE)
    silver = {name: read_silver(spark, root, name) for name in SILVER_TABLES}
    m_new = silver_max_event_date(spark, root)
    if changed_event_dates is None or not table_exists(path):
        return _rebuild(spark, path, silver, m_new)
    old = read_table(spark, path)
    m_old = old.agg(F.max("as_of_date")).first()[0]
    if m_old is None or m_new is None:  # nothing to carry over, or nothing left
        return _rebuild(spark, path, silver, m_new)

    result = {
        "mode": "incremental",
        "max_event_date": m_new.isoformat(),
        "as_of_dates": [],
        "rows_inserted": 0,
        "rows_updated": 0,
        "rows_deleted": 0,
    }
    changes = feature_changes(old, silver, set(changed_event_dates), m_old, m_new)
    if changes is None:
        return result
    diff = changes.localCheckpoint()
    by_date = diff.groupBy("as_of_date").agg(F.max("_stored").alias("stored")).collect()
    dates = sorted(r["as_of_date"] for r in by_date)
    if not dates:
        return result
    counts = merge_rows(
        spark,
        path,
        diff.drop("_stored"),
        keys=KEYS,
        prune=f"t.as_of_date IN ({sql_dates(dates)})",
        # A stored key in the diff: the MERGE runs without looking for a match first.
        matches=True if any(r["stored"] for r in by_date) else None,
    )
    result.update(
        as_of_dates=[d.isoformat() for d in dates],
        rows_inserted=counts["inserted"],
        rows_updated=counts["updated"],
        rows_deleted=counts["deleted"],
    )
    return result


def _rebuild(
    spark: SparkSession, path: str, silver: dict[str, DataFrame], m_new: date | None
) -> dict:
    before = table_version(path)
    if m_new is None:
        rows = spark.createDataFrame([], USER_FEATURES)
    else:
        rows = user_features(
            silver["signups"],
            silver["logins"],
            silver["api_requests"],
            silver["ai_completions"],
            m_new,
        )
    replace_table(rows, path, USER_FEATURES, PARTITION_BY)
    return {
        "mode": "full",
        "max_event_date": m_new.isoformat() if m_new else None,
        "rows_written": rows_written(path, before),
    }
