"""Bronze: read the landing files of some ingest dates and replace their bronze partitions."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import replace_partitions, table_path
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
) -> dict[date, int]:
    """Replace the bronze partitions of these ingest dates; return the rows written per date.

    The counts are observed while the write runs (`Observation`), not by reading the new
    partitions back: that re-read was a Delta snapshot load and a scan, ≈ 5 s per run here.
    Dates that wrote no rows are left out, as a count of the stored rows would leave them.
    """
    path = table_path(root, BRONZE_TABLE)
    days = sorted(files_by_date)
    files = [f for day in days for f in files_by_date[day]]
    observation = Observation("bronze_rows_by_ingest_date")
    lines = read_landing_lines(spark, files).observe(
        observation,
        *[
            F.sum(F.when(F.col("ingest_date") == F.lit(day), 1).otherwise(0)).alias(str(day))
            for day in days
        ],
    )
    replace_partitions(
        lines,
        path,
        "ingest_date",
        files_by_date,
        create=BRONZE_EVENTS,
        partition_by=("ingest_date",),
    )
    counts = observation.get
    written = {day: int(counts.get(str(day)) or 0) for day in days}
    return {day: n for day, n in written.items() if n > 0}
