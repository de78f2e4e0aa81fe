"""Silver: the kept copy of each valid event, projected to its table's exact columns (§5)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from schemas.events import EVENT_TABLES
from schemas.tables import SILVER, SILVER_COMMON

# Order of preference among copies of one event_id: earliest ingest_date wins (§4 rule 9);
# within a date, the first line of the first file, so re-runs always keep the same copy.
COPY_ORDER = ("ingest_date", "source_file", "line_number")


def mark_winners(valid: DataFrame) -> DataFrame:
    """Add `is_winner`: true for the one kept copy of every event_id among valid records."""
    window = Window.partitionBy("event_id").orderBy(*COPY_ORDER)
    return valid.withColumn("is_winner", F.row_number().over(window) == 1)


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
