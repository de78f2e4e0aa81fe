"""Table maintenance: compact small files, write a checkpoint, vacuum old files.

Every run MERGEs into silver and rewrites gold dates, so small files and log entries pile
up and each read gets slower. `maintain` runs, per Delta table of the lakehouse (bronze,
quarantine, silver, gold, features, _internal):

1. `OPTIMIZE delta.`path`` — bin-packs the small files of each partition into larger
   ones (one commit; the rows are unchanged).
2. `VACUUM delta.`path` RETAIN n HOURS` — deletes data files no longer referenced for
   longer than the retention (default 168 h = Delta's own 7-day safety check: readers
   and time travel within a week keep working). Below 168 h it refuses, unless
   `allow_short_retention` (erasure's zero-retention purge is the one caller that needs it).
3. A checkpoint: open-source Delta has no SQL `CHECKPOINT`, and `DeltaTable` methods are
   not available over Spark Connect, but a commit writes a checkpoint when its version is
   a multiple of `delta.checkpointInterval`. Setting that property to 1 is such a commit;
   unsetting it again restores the default (every 10 commits). Readers then replay one
   Parquet checkpoint and one JSON commit instead of up to ten.

Only SQL, so it works locally, on a cluster, through Spark Connect and on Databricks. The
tables stay readable by delta-rs (no table feature is added). It takes the lakehouse's
lease, like the writers whose decisions a concurrent compaction could otherwise race.
"""

from __future__ import annotations

import argparse
import functools
import logging
import posixpath
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pyspark.sql import SparkSession

from pipelines.config import UserError, settings
from pipelines.delta_io import commit, for_each_table, table_exists, table_path
from pipelines.landing import filesystem
from pipelines.locks import exclusive

log = logging.getLogger("lakehouse")

DEFAULT_RETENTION_HOURS = 168.0  # Delta's deletedFileRetentionDuration default (7 days)
RETENTION_ENV = "LAKEHOUSE_MAINTENANCE_RETENTION_HOURS"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
SKIPPED_PREFIXES = ("_internal/tmp/",)  # a crashed run's scratch tables: delete, not tend
LAYERS = ("bronze", "quarantine", "silver", "gold", "features", "_internal")


def delta_tables(root: str) -> list[str]:
    """Every Delta table under the lakehouse's layers, as paths relative to the root."""
    fs, base = filesystem(table_path(root, ""))
    base = base.rstrip("/")
    found = []
    for layer in LAYERS:
        top = posixpath.join(base, layer)
        if not fs.exists(top):
            continue
        for folder, dirs, _ in fs.walk(top):
            if "_delta_log" in dirs:
                relative = posixpath.relpath(folder, base)
                if not relative.startswith(SKIPPED_PREFIXES):
                    found.append(relative)
                dirs.clear()
    return sorted(found)


def data_files_on_disk(path: str) -> int:
    """Parquet data files under a table's folder, referenced or not (what VACUUM deletes)."""
    fs, inner = filesystem(path)
    return sum(1 for p in fs.find(inner) if p.endswith(".parquet") and "/_delta_log/" not in p)


def referenced_files(spark: SparkSession, path: str) -> int:
    """Data files the table's current version references."""
    return int(spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"] or 0)


def check_retention(retention_hours: float, allow_short_retention: bool = False) -> float:
    """The retention, refused below Delta's 7-day safety margin unless explicitly allowed."""
    try:
        hours = float(retention_hours)
    except (TypeError, ValueError):
        raise UserError(f"retention must be a number of hours, got {retention_hours!r}") from None
    if hours < 0:
        raise UserError(f"retention must not be negative, got {hours:g} hours")
    if hours < DEFAULT_RETENTION_HOURS and not allow_short_retention:
        raise UserError(
            f"a VACUUM retention of {hours:g} hours is below Delta's safety margin of "
            f"{DEFAULT_RETENTION_HOURS:g} hours (7 days): running readers and time travel "
            "could lose files they still need"
        )
    return hours


def checkpoint(spark: SparkSession, path: str, properties: dict[str, str] | None = None) -> None:
    """Write a checkpoint of the table's current state (SQL only; see the module doc).

    `properties` are the table's properties if the caller has them (saves a read)."""
    if properties is None:
        properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"]
    previous = (properties or {}).get("delta.checkpointInterval")
    commit(
        path,
        lambda: spark.sql(
            f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.checkpointInterval' = '1')"
        ),
    )
    if previous is None:
        restore = f"ALTER TABLE delta.`{path}` UNSET TBLPROPERTIES ('delta.checkpointInterval')"
    else:
        restore = (
            f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
            f"('delta.checkpointInterval' = '{int(previous)}')"
        )
    commit(path, lambda: spark.sql(restore))


def maintain_table(spark: SparkSession, root: str, table: str, retention_hours: float) -> dict:
    """OPTIMIZE, VACUUM and checkpoint one table; its file counts before and after."""
    path = table_path(root, table)
    started = time.perf_counter()
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    result: dict[str, Any] = {
        "files_before": int(detail["numFiles"] or 0),
        "disk_files_before": data_files_on_disk(path),
    }
    metrics = commit(path, lambda: spark.sql(f"OPTIMIZE delta.`{path}`").first())
    optimized = metrics["metrics"] if metrics is not None else None
    result["files_removed"] = int(optimized["numFilesRemoved"]) if optimized else 0
    result["files_added"] = int(optimized["numFilesAdded"]) if optimized else 0
    # VACUUM commits too (its start and end are logged as table versions).
    vacuum = f"VACUUM delta.`{path}` RETAIN {retention_hours:g} HOURS"
    commit(path, lambda: spark.sql(vacuum).collect())
    checkpoint(spark, path, detail["properties"])
    # Only OPTIMIZE changes which files are referenced (VACUUM and the checkpoint do not),
    # but a concurrent writer (bronze, outside the lease) may have committed meanwhile.
    result["files_after"] = referenced_files(spark, path)
    result["disk_files_after"] = data_files_on_disk(path)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def maintain(
    spark: SparkSession,
    root: str,
    retention_hours: float = DEFAULT_RETENTION_HOURS,
    tables: Iterable[str] | None = None,
    allow_short_retention: bool = False,
    record: bool = True,
) -> dict[str, dict]:
    """Maintain every Delta table of the lakehouse (or `tables`, relative to the root).

    Returns per table: referenced data files before/after (`files_before`/`files_after`),
    Parquet files on disk before/after (`disk_files_before`/`disk_files_after`), what
    OPTIMIZE removed and added, and the seconds it took. Holds the lakehouse's lease;
    records a `maintenance` run in the ledger unless `record` is False.
    """
    hours = check_retention(retention_hours, allow_short_retention)
    available = delta_tables(root)
    chosen = sorted(set(tables)) if tables is not None else available
    unknown = [t for t in chosen if t not in available and not table_exists(table_path(root, t))]
    if unknown:
        raise UserError(f"not a Delta table under {root}: {', '.join(unknown)}")

    from pipelines.ledger import RunRecord, StepRecord, finish_run

    run = RunRecord("maintenance")
    results: dict[str, dict] = {}
    error: BaseException | None = None
    with exclusive(root, reentrant=True):
        short = hours < DEFAULT_RETENTION_HOURS
        previous = spark.conf.get(RETENTION_CHECK, "true") if short else None
        if short:
            spark.conf.set(RETENTION_CHECK, "false")  # this session, this call only
        try:
            tasks = {t: functools.partial(maintain_table, spark, root, t, hours) for t in chosen}
            results = for_each_table(tasks)
        except BaseException as failure:
            error = failure
            raise
        finally:
            if short:
                spark.conf.set(RETENTION_CHECK, previous or "true")
            if record:
                run.steps = [
                    StepRecord(
                        f"maintain {t}",
                        r["seconds"],
                        r["files_before"],
                        r["files_after"],
                    )
                    for t, r in sorted(results.items())
                ]
                finish_run(spark, root, run, error=error)
    return results


# --- `lakehouse maintain` / `lakehouse-maintain` ---------------------------------------


def retention_from_env() -> float:
    return settings().maintenance.retention_hours


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lakehouse maintain` (the CLI adds its own --lakehouse)."""
    parser.add_argument(
        "--retention-hours",
        type=float,
        default=None,
        help=f"VACUUM retention in hours (env {RETENTION_ENV}; default 168 = 7 days, the minimum)",
    )
    parser.add_argument(
        "--table",
        action="append",
        dest="tables",
        metavar="LAYER/NAME",
        help="only this table, e.g. silver/logins (repeatable; default: every table)",
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run maintenance for parsed arguments (`lakehouse maintain`); print a summary."""
    from pipelines.spark import get_spark
    from pipelines.storage_checks import ensure_writable

    root = args.lakehouse or settings().run.root
    if not root:
        raise UserError("--lakehouse is required (or set LAKEHOUSE_ROOT)")
    hours = check_retention(
        args.retention_hours if args.retention_hours is not None else retention_from_env()
    )
    ensure_writable(root)
    results = maintain(get_spark(), root, hours, tables=args.tables)
    print(summary(results, hours))
    return 0


def summary(results: dict[str, dict], retention_hours: float) -> str:
    lines = [
        f"[lakehouse] maintained {len(results)} table(s), VACUUM retention {retention_hours:g} h"
    ]
    for table, r in sorted(results.items()):
        lines.append(
            f"[lakehouse]   {table}: {r['files_before']} → {r['files_after']} referenced "
            f"file(s), {r['disk_files_before']} → {r['disk_files_after']} on disk "
            f"({r['seconds']:.1f}s)"
        )
    before = sum(r["files_before"] for r in results.values())
    after = sum(r["files_after"] for r in results.values())
    lines.append(f"[lakehouse] referenced data files: {before} → {after}")
    return "\n".join(lines)


def maintain_main(argv: Sequence[str] | None = None) -> int:
    """`lakehouse-maintain --lakehouse ROOT [--retention-hours H] [--table T ...]`.

    Exit codes: 0 done, 2 a user error (one line on stderr).
    """
    parser = argparse.ArgumentParser(prog="lakehouse-maintain", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lakehouse",
        default=None,
        help="lakehouse root: folder or abfss:// URI (env LAKEHOUSE_ROOT)",
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse printed its one-line usage error
        return int(stop.code or 0)
    try:
        return run_from_args(args)
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2


def main() -> None:
    """Console script / Databricks python_wheel_task: a failure leaves through SystemExit."""
    code = maintain_main()
    if code:
        sys.exit(code)
