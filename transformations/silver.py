"""Silver: rule 9's kept copy of each valid event, projected to its table's columns (§4, §5).

A run re-decides rule 9 only for the event_ids it touches: those with a valid copy in
one of its ingest dates, now or before the run (a copy can also disappear). Among all
valid copies of those ids in dates that passed the gate, the first by `COPY_ORDER` wins;
the others go to quarantine as `duplicate`, and an id that no longer wins in a table is
deleted from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from schemas.events import EVENT_TABLES
from schemas.tables import RECORD_KEY, SILVER, SILVER_COMMON

# Order of preference among copies of one event_id: earliest ingest_date wins (§4 rule 9);
# within a date, the first line of the first file, so re-runs always keep the same copy.
COPY_ORDER = ("ingest_date", "source_file", "line_number")


def mark_winners(valid: DataFrame) -> DataFrame:
    """Add `is_winner`: true for the one kept copy of every event_id among valid records."""
    window = Window.partitionBy("event_id").orderBy(*COPY_ORDER)
    return valid.withColumn("is_winner", F.row_number().over(window) == 1)


def touched_events(
    valid_now: DataFrame, valid_before: DataFrame, dates: Iterable[date]
) -> DataFrame:
    """event_id, event_date, event_type of the valid records of these ingest dates, in the
    validation as it is now and as it was before the run (distinct)."""
    columns = ("event_id", "event_date", "event_type")
    dates = sorted(set(dates))
    now = valid_now.where(F.col("ingest_date").isin(dates)).select(*columns)
    before = valid_before.where(F.col("ingest_date").isin(dates)).select(*columns)
    return now.unionByName(before).distinct()


def stale_ids(typed_ids: DataFrame, winners: DataFrame, event_type: str) -> DataFrame:
    """The event_ids to delete from `event_type`'s table: ids with a copy of that type
    (`typed_ids`: event_id, event_type) that do not win as that type (they lost to another
    copy, or their date is held back). An id can only be in a table if a copy has its type.
    """
    return (
        typed_ids.where(F.col("event_type") == event_type)
        .select("event_id")
        .distinct()
        .join(
            winners.where(F.col("event_type") == event_type).select("event_id"),
            "event_id",
            "left_anti",
        )
    )


def duplicate_rows(candidates: DataFrame, bronze: DataFrame) -> DataFrame:
    """Quarantine rows for the copies that lost (`is_winner` false), with their raw line
    from bronze (RECORD_KEY + raw)."""
    return (
        candidates.where(~F.col("is_winner"))
        .select(*RECORD_KEY, "event_id", "event_type")
        .join(bronze.select(*RECORD_KEY, "raw"), list(RECORD_KEY))
        .withColumns(
            {
                "reason": F.lit("duplicate"),
                "detail": F.lit("event_id already kept from an earlier or equal ingest_date"),
            }
        )
    )


def silver_table(validated: DataFrame, table: str) -> DataFrame:
    """Rows of one silver table from validated (valid, kept) records, with exact types."""
    event_type = next(t for t, name in EVENT_TABLES.items() if name == table)
    common = [name for name, _ in SILVER_COMMON]
    rows = validated.where(F.col("event_type") == event_type)
    schema = SILVER[table]
    columns = [
        F.col(field.name if field.name in common else f"p_{field.name}")
        .cast(field.dataType)
        .alias(field.name)
        for field in schema.fields
    ]
    return rows.select(*columns)
