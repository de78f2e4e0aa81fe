"""Bronze: read the landing files of some ingest dates and replace their bronze partitions."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import read_table, replace_partitions, table_path
from pipelines.landing import LandingFile
from schemas.tables import BRONZE_EVENTS, BRONZE_TABLE
from transformations.bronze import landing_lines


def read_landing_lines(spark: SparkSession, files: list[LandingFile]) -> DataFrame:
    """One row per non-blank line of the given files, with its file and 1-based line number.

    Each file is read whole (`wholetext`, gzip decoded by its extension) and cut into lines
    by `transformations.bronze.landing_lines`, so line numbers are exact and stable.
    """
    if not files:
        return spark.createDataFrame([], BRONZE_EVENTS)
    text = spark.read.text([f.path for f in files], wholetext=True)
    return landing_lines(text.select(F.col("_metadata.file_path").alias("file_path"), "value"))


def write_bronze(
    spark: SparkSession, root: str, files_by_date: dict[date, list[LandingFile]]
) -> DataFrame:
    """Replace the bronze partitions of these ingest dates; return them as stored."""
    path = table_path(root, BRONZE_TABLE)
    files = [f for day in sorted(files_by_date) for f in files_by_date[day]]
    lines = read_landing_lines(spark, files)
    replace_partitions(
        lines,
        path,
        "ingest_date",
        files_by_date,
        create=BRONZE_EVENTS,
        partition_by=("ingest_date",),
    )
    return read_table(spark, path).where(F.col("ingest_date").isin(list(files_by_date)))
