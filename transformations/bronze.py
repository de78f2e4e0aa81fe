"""Bronze: landing files cut into records, one per non-blank line, exactly as read (§1, §5).

A file's line numbers count every line, blank ones too, so they stay the same however
the file is read and identify a record for rule 9's ties (`transformations/silver.py`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Every line break the landing zone may use: Windows, old Mac, Unix.
LINE_BREAK = r"\r\n|\r|\n"
# The file's name relative to the landing root: `ingest_date=YYYY-MM-DD/<file>`.
SOURCE_FILE = r"(ingest_date=\d{4}-\d{2}-\d{2}/[^/]+)$"
# Blank: nothing but whitespace, Unicode whitespace included ((?U)).
BLANK = r"^(?U)\s*$"


def landing_lines(files: DataFrame) -> DataFrame:
    """Bronze rows from whole files: `file_path` (the file's URL) and `value` (its text).

    Returns ingest_date, source_file, line_number (1-based), raw, ingested_at.
    """
    source = F.regexp_extract(F.col("file_path"), SOURCE_FILE, 1)
    lines = files.select(
        source.alias("source_file"),
        F.posexplode(F.split(F.col("value"), LINE_BREAK, -1)).alias("pos", "raw"),
    )
    return lines.where(~F.col("raw").rlike(BLANK)).select(
        F.to_date(F.regexp_extract("source_file", r"ingest_date=(\d{4}-\d{2}-\d{2})", 1)).alias(
            "ingest_date"
        ),
        F.col("source_file"),
        (F.col("pos") + 1).cast("long").alias("line_number"),
        F.col("raw"),
        F.current_timestamp().alias("ingested_at"),
    )
