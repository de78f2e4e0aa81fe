"""The "plain job" floor of issue 12: what Spark + Delta cost for a run's data, nothing more.

    .venv/bin/python bench/floor.py --landing L [--date D ...] [--root W] [--keep]

One fresh process, one fresh JVM started through `pipelines.spark.get_spark()` (so the
jars and settings are the pipeline's): read the landing files of the given ingest dates,
append them to bronze (Delta), parse with `from_json`, drop duplicate event_ids, append
six silver tables and six simple daily aggregates (Delta, partitioned like the pipeline's).
No exact validation, no MERGE, no checks, no bookkeeping tables: 13 Delta commits.

Every figure of `lakehouse run` in bench/README.md stands next to this one, measured in
the same window, because this machine's speed drifts by 2-3x from hour to hour.
Prints one JSON line; `wall_seconds` runs from this process's start (interpreter, imports
and Spark start included) to the last commit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psutil

PROJECT = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT))  # after PYTHONPATH: a source snapshot there wins

from pyspark.sql import Column, DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import StringType, StructField, StructType  # noqa: E402

from pipelines.spark import get_spark  # noqa: E402
from schemas.events import EVENT_TABLES  # noqa: E402
from schemas.tables import SILVER, SILVER_PAYLOAD  # noqa: E402

INGEST_DIR = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")


def landing_files(landing: Path, dates: list[date] | None) -> dict[date, list[str]]:
    """Record files (`*.jsonl`, `*.jsonl.gz`) per ingest date; all dates when none given."""
    found: dict[date, list[str]] = {}
    for folder in sorted(landing.iterdir()):
        match = INGEST_DIR.match(folder.name)
        if not match or not folder.is_dir():
            continue
        day = date.fromisoformat(match.group(1))
        if dates and day not in dates:
            continue
        found[day] = [
            str(f)
            for f in sorted(folder.iterdir())
            if not f.name.startswith((".", "_")) and f.name.endswith((".jsonl", ".jsonl.gz"))
        ]
    missing = sorted(set(dates or []) - set(found))
    if missing:
        raise SystemExit(f"floor: no landing folder for {', '.join(map(str, missing))}")
    return found


def envelope_schema() -> StructType:
    """The event envelope with every payload field any event type has, typed as in silver."""
    payload: dict[str, StructField] = {}
    for fields in SILVER_PAYLOAD.values():
        for name, dtype in fields:
            payload.setdefault(name, StructField(name, dtype))
    return StructType(
        [
            StructField("event_id", StringType()),
            StructField("event_type", StringType()),
            StructField("event_version", StringType()),
            StructField("occurred_at", StringType()),
            StructField("tenant_id", StringType()),
            StructField("user_id", StringType()),
            StructField("payload", StructType(list(payload.values()))),
        ]
    )


def bronze_rows(spark: SparkSession, files: list[str]) -> DataFrame:
    """Every non-blank landing line with its ingest date and file, like a plain ingest."""
    source = F.regexp_extract(F.col("_metadata.file_path"), r"(ingest_date=[^/]+/[^/]+)$", 1)
    return (
        spark.read.text(files)
        .where(F.trim("value") != "")
        .select(
            F.to_date(F.regexp_extract(source, r"ingest_date=(\d{4}-\d{2}-\d{2})", 1)).alias(
                "ingest_date"
            ),
            source.alias("source_file"),
            F.col("value").alias("raw"),
            F.current_timestamp().alias("ingested_at"),
        )
    )


def parsed_events(bronze: DataFrame) -> DataFrame:
    """from_json of every line, rows without an id, a known type or a time dropped, dedup."""
    event = F.from_json("raw", envelope_schema()).alias("e")
    occurred = F.try_to_timestamp(F.col("e.occurred_at"))
    return (
        bronze.select("ingest_date", event)
        .select(
            "ingest_date",
            "e.*",
            occurred.alias("occurred_ts"),
        )
        .where(
            F.col("event_id").isNotNull()
            & F.col("event_type").isin(list(EVENT_TABLES))
            & F.col("occurred_ts").isNotNull()
        )
        .dropDuplicates(["event_id"])
    )


def silver_frame(events: DataFrame, event_type: str, table: str) -> DataFrame:
    """One event type in its silver schema (bad values become null: no exact validation)."""
    common: dict[str, Column] = {
        "event_id": F.col("event_id"),
        "tenant_id": F.col("tenant_id"),
        "user_id": F.col("user_id"),
        "occurred_at": F.col("occurred_ts"),
        "event_date": F.to_date("occurred_ts"),
        "ingest_date": F.col("ingest_date"),
        "event_version": F.coalesce(F.col("event_version").try_cast("int"), F.lit(1)),
    }
    columns = [
        (common[f.name] if f.name in common else F.col(f"payload.{f.name}"))
        .try_cast(f.dataType)
        .alias(f.name)
        for f in SILVER[table].fields
    ]
    return events.where(F.col("event_type") == event_type).select(*columns)


AGGREGATES: dict[str, tuple[str, tuple[str, ...], Callable[[], list[Column]]]] = {
    "api_usage_daily": (
        "api_requests",
        ("event_date", "tenant_id", "api_version"),
        lambda: [
            F.count("*").alias("requests"),
            F.count_if(F.col("status_code") >= 400).alias("errors"),
            F.percentile_approx("latency_ms", 0.95).alias("p95_latency_ms"),
        ],
    ),
    "ai_usage_daily": (
        "ai_completions",
        ("event_date", "tenant_id", "model"),
        lambda: [
            F.count("*").alias("requests"),
            F.sum(F.col("prompt_tokens") + F.col("completion_tokens")).alias("tokens"),
            F.sum("cost_usd").alias("cost_usd"),
        ],
    ),
    "revenue_daily": (
        "invoices",
        ("event_date", "tenant_id", "currency"),
        lambda: [F.count("*").alias("invoices"), F.sum("amount_cents").alias("amount_cents")],
    ),
    "signups_daily": (
        "signups",
        ("event_date", "plan", "country"),
        lambda: [F.count("*").alias("signups")],
    ),
    "daily_active_users": (
        "logins",
        ("event_date", "tenant_id"),
        lambda: [F.count_distinct("user_id").alias("dau")],
    ),
    "projects_daily": (
        "projects",
        ("event_date", "tenant_id"),
        lambda: [F.count("*").alias("projects")],
    ),
}


def append(df: DataFrame, path: Path, partition: str) -> None:
    """One Delta commit, partitioned like the pipeline's table."""
    df.write.format("delta").mode("append").partitionBy(partition).save(str(path))


def run_floor(spark: SparkSession, landing: Path, root: Path, dates: list[date] | None) -> dict:
    """The plain job; returns seconds per phase and the row counts it wrote."""
    seconds: dict[str, float] = {}
    files = landing_files(landing, dates)
    started = time.perf_counter()
    bronze = bronze_rows(spark, [f for day in sorted(files) for f in files[day]])
    append(bronze, root / "bronze/events", "ingest_date")
    seconds["bronze"] = time.perf_counter() - started

    step = time.perf_counter()
    # Parsed once (the six writes and the aggregates share it), like any plain job would.
    events = parsed_events(bronze).persist()
    silver: dict[str, DataFrame] = {}
    for event_type, table in EVENT_TABLES.items():
        silver[table] = silver_frame(events, event_type, table)
        append(silver[table], root / f"silver/{table}", "event_date")
    seconds["silver"] = time.perf_counter() - step

    step = time.perf_counter()
    for name, (table, keys, measures) in AGGREGATES.items():
        append(silver[table].groupBy(*keys).agg(*measures()), root / f"gold/{name}", "event_date")
    seconds["gold"] = time.perf_counter() - step
    rows = events.count()
    events.unpersist()
    return {
        "ingest_dates": [d.isoformat() for d in sorted(files)],
        "files": sum(len(f) for f in files.values()),
        "silver_rows": rows,
        "delta_commits": 1 + len(EVENT_TABLES) + len(AGGREGATES),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Time the plain job from this process's start; print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", required=True, type=Path, help="local landing zone")
    parser.add_argument(
        "--date", action="append", type=date.fromisoformat, dest="dates", help="repeatable"
    )
    parser.add_argument("--root", type=Path, help="where to write (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)

    process_start = psutil.Process().create_time()
    root = args.root or Path(tempfile.mkdtemp(prefix="lakehouse-floor-"))
    spark_started = time.time()
    spark = get_spark(app_name="lakehouse-floor")
    spark.range(1).count()  # the session is usable: JVM, jars and first job done
    spark_seconds = time.time() - spark_started
    try:
        result: dict[str, Any] = run_floor(
            spark, args.landing.resolve(), root.resolve(), args.dates
        )
    finally:
        if args.root is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    wall = time.time() - process_start
    result = {
        "floor": "plain Spark + Delta job",
        "wall_seconds": round(wall, 2),
        "spark_start_seconds": round(spark_seconds, 2),
        "before_spark_seconds": round(spark_started - process_start, 2),
        **result,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "root": str(root) if (args.root or args.keep) else None,
    }
    print(json.dumps(result), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
