"""Keep the gold tables exactly in step with silver, recomputing only what changed.

Gold tables are partitioned by event_date. A run reads silver with partition pruning to
the window the affected dates need, recomputes exactly those dates and replaces them in
one Delta commit per table (`replaceWhere`). Without changed dates (None), or when a
table does not exist yet, the table is rebuilt in one overwrite commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import (
    for_each_table,
    read_table,
    replace_partitions,
    replace_table,
    rows_written,
    table_exists,
    table_state,
    table_version,
)
from pipelines.delta_io import table_path as _path
from pipelines.locks import exclusive
from schemas.tables import GOLD, GOLD_TABLES, SILVER, SILVER_TABLES
from transformations import gold as T

BUILDERS: dict[str, Callable[..., DataFrame]] = {
    "daily_active_users": T.daily_active_users,
    "api_usage_daily": T.api_usage_daily,
    "ai_usage_daily": T.ai_usage_daily,
    "revenue_daily": T.revenue_daily,
    "signups_daily": T.signups_daily,
}

PARTITION_BY = ("event_date",)


def update_gold(spark: SparkSession, root: str, changed_event_dates: set[date] | None) -> dict:
    """Bring every gold table in step with silver; None rebuilds everything.

    Returns {table: {"mode", "rows_written", "dates"}} with dates as ISO strings.
    """
    with exclusive(root):  # gold is decided from silver: one run at a time (locks.py)
        return _update_all(spark, root, changed_event_dates)


def _update_all(spark: SparkSession, root: str, changed_event_dates: set[date] | None) -> dict:
    silver = {name: read_silver(spark, root, name) for name in SILVER_TABLES}
    max_date = silver_max_event_date(spark, root)
    return for_each_table(
        {
            table: functools.partial(
                _update_table, spark, root, table, silver, changed_event_dates, max_date
            )
            for table in BUILDERS
        }
    )


def _update_table(
    spark: SparkSession,
    root: str,
    table: str,
    silver: dict[str, DataFrame],
    changed: set[date] | None,
    max_date: date | None,
) -> dict:
    path = _path(root, GOLD_TABLES[table])
    build = BUILDERS[table]
    inputs = [silver[name] for name in T.GOLD_INPUTS[table]]
    if changed is None or not table_exists(path):
        before = table_version(path)
        replace_table(build(*inputs), path, GOLD[table], PARTITION_BY)
        return {"mode": "full", "rows_written": rows_written(path, before), "dates": []}

    dates = _affected(table, silver, changed, max_date)
    before = table_version(path)
    if dates:
        rows = build(*_inputs_for(table, inputs, dates), dates=dates)
        replace_partitions(rows, path, "event_date", dates)
    return {
        "mode": "incremental",
        "rows_written": rows_written(path, before),
        "dates": [d.isoformat() for d in sorted(dates)],
    }


def read_silver(spark: SparkSession, root: str, name: str) -> DataFrame:
    """A silver table (lazily; filters on event_date prune its partitions)."""
    path = _path(root, SILVER_TABLES[name])
    if not table_exists(path):  # an event type that has never arrived
        return spark.createDataFrame([], SILVER[name])
    return read_table(spark, path)


def silver_max_event_date(spark: SparkSession, root: str) -> date | None:
    """The greatest event_date in any silver table, computed once per state of silver.

    Gold and then features ask for it in every run, with silver unchanged in between
    (only holders of the lakehouse's lease write silver, and both steps hold it); the
    second metadata query over six tables cost 2-3 s (measured). Any new commit to a
    silver table, or a table made again, is a new state and computes it again.
    """
    state = tuple(table_state(_path(root, SILVER_TABLES[n])) for n in sorted(SILVER_TABLES))
    return _max_event_date_at(spark, root, state)


@functools.lru_cache(maxsize=4)
def _max_event_date_at(
    spark: SparkSession, root: str, state: tuple[tuple[int, float], ...]
) -> date | None:
    del state  # the memo's key only
    return max_event_date(read_silver(spark, root, name) for name in SILVER_TABLES)


def max_event_date(tables: Iterable[DataFrame]) -> date | None:
    """The greatest event_date in any of these tables, in one Spark job."""
    maxima = [df.agg(F.max("event_date").alias("event_date")) for df in tables]
    return functools.reduce(DataFrame.unionByName, maxima).agg(F.max("event_date")).first()[0]


def _affected(
    table: str, silver: dict[str, DataFrame], changed: set[date], max_date: date | None
) -> set[date]:
    dates = T.affected_gold_dates(table, changed, max_date)
    if table == "signups_daily" and changed:
        moved = T.signups_moved_dates(silver["signups"], changed).collect()
        dates |= {row["event_date"] for row in moved}
    return dates


def _inputs_for(table: str, inputs: list[DataFrame], dates: set[date]) -> list[DataFrame]:
    """Inputs cut to what these gold dates need, so Delta reads only those partitions."""
    needed = sorted(T.required_event_dates(table, dates))
    if table == "signups_daily":
        (signups,) = inputs
        return [T.signup_history(signups, needed)]
    return [df.where(F.col("event_date").isin(needed)) for df in inputs]
