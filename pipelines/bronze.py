"""Bronze: every non-blank landing line, exactly as read, one row per record (§1, §5)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import ensure_table, read_table, replace_partitions, table_path
from pipelines.landing import LandingFile
from schemas.tables import BRONZE_EVENTS, BRONZE_TABLE

LINE_BREAK = r"\r\n|\r|\n"
SOURCE_FILE = r"(ingest_date=\d{4}-\d{2}-\d{2}/[^/]+)$"


def read_landing_lines(spark: SparkSession, files: list[LandingFile]) -> DataFrame:
    """One row per non-blank line of the given files, with its file and 1-based line number.

    Each file is read whole (`wholetext`, gzip decoded by its extension) and split here, so
    line numbers are exact and stable across runs: they identify a record for dedup ties.
    """
    if not files:
        return spark.createDataFrame([], BRONZE_EVENTS)
    text = spark.read.text([f.path for f in files], wholetext=True)
    source = F.regexp_extract(F.col("_metadata.file_path"), SOURCE_FILE, 1)
    lines = text.select(
        source.alias("source_file"),
        F.posexplode(F.split(F.col("value"), LINE_BREAK, -1)).alias("pos", "raw"),
    )
    return lines.where(~F.col("raw").rlike(r"^(?U)\s*$")).select(
        F.to_date(F.regexp_extract("source_file", r"ingest_date=(\d{4}-\d{2}-\d{2})", 1)).alias(
            "ingest_date"
        ),
        F.col("source_file"),
        (F.col("pos") + 1).cast("long").alias("line_number"),
        F.col("raw"),
        F.current_timestamp().alias("ingested_at"),
    )


def write_bronze(
    spark: SparkSession, root: str, files_by_date: dict[date, list[LandingFile]]
) -> DataFrame:
    """Replace the bronze partitions of these ingest dates; return them as stored."""
    path = table_path(root, BRONZE_TABLE)
    ensure_table(spark, path, BRONZE_EVENTS, partition_by=("ingest_date",))
    files = [f for day in sorted(files_by_date) for f in files_by_date[day]]
    lines = read_landing_lines(spark, files)
    replace_partitions(lines, path, "ingest_date", files_by_date)
    return read_table(spark, path).where(F.col("ingest_date").isin(list(files_by_date)))
