"""Time one silver suite on a generated api_requests DataFrame (not a test).

python bench/expectations_bench.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.suites import validate
from schemas import events as ev
from schemas.tables import SILVER


def _pick(values: tuple[str, ...], n: Column) -> Column:
    return F.element_at(F.array(*(F.lit(v) for v in values)), (n % len(values)).cast("int") + 1)


def api_requests(spark: SparkSession, rows: int) -> DataFrame:
    """Valid silver api_requests rows, derived from spark.range (no Python per row)."""
    i = F.col("id")
    occurred = F.timestamp_seconds(F.lit(1_792_800_000) + i % (30 * 86_400))  # 30 days of 2026-10
    version = (i % 2 + 1).cast("int")
    df = spark.range(rows).select(
        F.concat(F.lit("e-"), i.cast("string")).alias("event_id"),
        F.concat(F.lit("t-"), (i % 40).cast("string")).alias("tenant_id"),
        F.when(i % 7 != 0, F.concat(F.lit("u-"), (i % 5000).cast("string"))).alias("user_id"),
        occurred.alias("occurred_at"),
        F.to_date(occurred).alias("event_date"),
        F.lit("2026-11-30").cast("date").alias("ingest_date"),
        version.alias("event_version"),
        _pick(ev.HTTP_METHODS, i).alias("method"),
        F.lit("/v1/things").alias("route"),
        _pick(ev.API_VERSIONS, i).alias("api_version"),
        _pick(("200", "201", "404", "500"), i).cast("int").alias("status_code"),
        (i % 1000 / 3.0).alias("latency_ms"),
        _pick(ev.TIERS, i).alias("tier"),
        (i % 50 == 0).alias("throttled"),
        F.when(version == 2, F.lit("eu-west")).alias("region"),
    )
    return df.select([F.col(f.name).cast(f.dataType) for f in SILVER["api_requests"].fields])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from pipelines.spark import get_spark

    spark = get_spark(app_name="expectations-benchmark")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    df = api_requests(spark, args.rows)
    for n in range(args.repeat):
        started = time.perf_counter()
        result = validate(df, "silver.api_requests")
        seconds = time.perf_counter() - started
        print(
            f"run {n + 1}: {args.rows:,} rows, {result.evaluated} expectations, "
            f"success={result.success}, {seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
