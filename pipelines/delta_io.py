"""Delta reads and writes used by every layer: create, replace some partitions, merge.

Only DataFrame and SQL APIs, so the same calls work locally, on a cluster and through
Spark Connect. Every write is one Delta commit, so a reader sees a table before or after
it, never half-way.
"""

from __future__ import annotations

import logging
import os
import posixpath
import random
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from pipelines.landing import filesystem

log = logging.getLogger("lakehouse")

T = TypeVar("T")

# Delta's optimistic-concurrency failures: another writer committed to the table first.
# The write is recomputed from the current state and tried again.
CONFLICTS = (
    "DELTA_CONCURRENT",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
)
CONFLICT_ATTEMPTS = 6
# Writes to different tables run side by side: a small Delta commit is mostly driver-side
# waiting (log reads, planning, the commit itself), so overlapping them saves wall time.
TABLE_WRITERS = 3


def table_path(root: str, relative: str) -> str:
    """A table's location; local roots made absolute (Delta SQL's delta.`path` needs it)."""
    base = root.rstrip("/")
    if "://" not in base and not base.startswith("file:"):
        base = os.path.abspath(base)
    return posixpath.join(base, relative)


def table_exists(path: str) -> bool:
    fs, inner = filesystem(path)
    log_dir = posixpath.join(inner, "_delta_log")
    # The folder appears before the first commit; a run killed in between leaves no table.
    # Once old log files are cleaned up, _last_checkpoint is what remains.
    return fs.exists(posixpath.join(log_dir, f"{0:020d}.json")) or fs.exists(
        posixpath.join(log_dir, "_last_checkpoint")
    )


def is_conflict(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in CONFLICTS)


def retry_on_conflict(write: Callable[[], T], attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run a Delta write, again (after a short, growing pause) if a concurrent commit won."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:
            if attempt == attempts or not is_conflict(error):
                raise
            log.info("Delta write conflict (attempt %d), retrying: %s", attempt, error)
            time.sleep(0.5 * attempt + random.random())
    raise AssertionError("unreachable")


def remove_tree(path: str) -> None:
    """Delete a folder and everything under it, if it exists."""
    fs, inner = filesystem(path)
    if fs.exists(inner):
        fs.rm(inner, recursive=True)


def ensure_table(
    spark: SparkSession, path: str, schema: StructType, partition_by: tuple[str, ...] = ()
) -> None:
    """Create an empty Delta table with this exact schema unless one exists."""
    if table_exists(path):
        return
    writer = spark.createDataFrame([], schema).write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        writer.save(path)
    except Exception:
        if not table_exists(path):
            raise
        # A concurrent run created it first; its schema is the same one.


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
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{column} IN ({sql_dates(values)})")
    )
    retry_on_conflict(lambda: writer.save(path))


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
    statement = f"""
        MERGE INTO delta.`{path}` t
        USING {view} s
        ON {on}
        WHEN MATCHED AND s.`{delete_flag}` THEN DELETE
        WHEN MATCHED THEN UPDATE SET {assignments}
        WHEN NOT MATCHED AND NOT s.`{delete_flag}` THEN INSERT ({names}) VALUES ({values})
    """
    try:
        retry_on_conflict(lambda: spark.sql(statement))
    finally:
        spark.catalog.dropTempView(view)


def for_each_table(tasks: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run one write per table concurrently (they never touch the same table)."""
    with ThreadPoolExecutor(max_workers=TABLE_WRITERS, thread_name_prefix="table") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}
