"""Delta reads and writes used by every layer: create, replace some partitions, merge.

Only DataFrame and SQL APIs, so the same calls work locally, on a cluster and through
Spark Connect. Every write is one Delta commit, so a reader sees a table before or after
it, never half-way.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from pipelines.landing import filesystem

T = TypeVar("T")
# Writes to different tables run side by side: a small Delta commit is mostly driver-side
# waiting (log reads, planning, the commit itself), so overlapping them saves wall time.
TABLE_WRITERS = 3


def table_path(root: str, relative: str) -> str:
    return posixpath.join(root.rstrip("/"), relative)


def table_exists(path: str) -> bool:
    fs, inner = filesystem(path)
    return fs.exists(posixpath.join(inner, "_delta_log"))


def ensure_table(
    spark: SparkSession, path: str, schema: StructType, partition_by: tuple[str, ...] = ()
) -> None:
    """Create an empty Delta table with this exact schema unless one exists."""
    if table_exists(path):
        return
    writer = spark.createDataFrame([], schema).write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def read_table(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def table_version(spark: SparkSession, path: str) -> int:
    row = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").select("version").first()
    return int(row["version"])


def sql_dates(dates: Iterable[date]) -> str:
    """A SQL IN-list of date literals: DATE'2026-10-20', ..."""
    return ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(dates)))


def replace_partitions(df: DataFrame, path: str, column: str, values: Iterable[date]) -> None:
    """Atomically replace the rows whose `column` is one of `values` with `df`."""
    values = sorted(set(values))
    if not values:
        return
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{column} IN ({sql_dates(values)})")
        .save(path)
    )


def merge_rows(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    keys: tuple[str, ...],
    prune: str | None = None,
    delete_flag: str = "_delete",
) -> None:
    """One MERGE: source rows upsert by `keys`; source rows with `delete_flag` true delete.

    `prune` is an extra condition on the target (`t.`) that lets Delta skip files.
    """
    view = f"merge_src_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    columns = [c for c in source.columns if c != delete_flag]
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    if prune:
        on = f"({prune}) AND {on}"
    assignments = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
    names = ", ".join(f"`{c}`" for c in columns)
    values = ", ".join(f"s.`{c}`" for c in columns)
    try:
        spark.sql(
            f"""
            MERGE INTO delta.`{path}` t
            USING {view} s
            ON {on}
            WHEN MATCHED AND s.`{delete_flag}` THEN DELETE
            WHEN MATCHED THEN UPDATE SET {assignments}
            WHEN NOT MATCHED AND NOT s.`{delete_flag}` THEN INSERT ({names}) VALUES ({values})
            """
        )
    finally:
        spark.catalog.dropTempView(view)


def for_each_table(tasks: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run one write per table concurrently (they never touch the same table)."""
    with ThreadPoolExecutor(max_workers=TABLE_WRITERS, thread_name_prefix="table") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}
