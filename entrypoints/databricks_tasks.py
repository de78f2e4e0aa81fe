"""Entry points of the lakehouse wheel: one per task of the Databricks job (and console scripts).

    lakehouse-bronze-silver  landing → bronze → quarantine + silver   (run_bronze_silver)
    lakehouse-gold           silver → gold                            (update_gold)
    lakehouse-features       silver → features/user_features          (update_features)

They call the same layer functions as `lakehouse run` and the Dagster assets. Exit codes:
0 ok, 1 a batch gate failed (the other dates still completed), 2 a user error (one line).

Each task is its own process, so the event dates silver changed travel through the
lakehouse: bronze-silver appends them to `_internal/pending_event_dates`, once per
consumer (gold, features); each consumer passes exactly its pending dates to its update
function (the set `lakehouse run` passes in one process) and deletes those rows only after
the update committed. A failed or skipped task therefore catches up on its next run, and
a retry repeats idempotent work. Deriving the dates from `_internal/validated_events` for
the ingest dates instead would not be exact: it holds records as they are now, so a record
removed from a re-processed date (a GDPR erasure) would leave its event_date unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType

from pipelines.config import UserError, gate_threshold_from_env
from pipelines.delta_io import ensure_table, read_table, table_exists, table_path
from pipelines.features import update_features
from pipelines.gold import update_gold
from pipelines.landing import fingerprint, parse_date
from pipelines.run import discover, resolve_dates, run_bronze_silver
from pipelines.silver import INGEST_LOG_TABLE
from pipelines.spark import SESSION_CONF, get_spark
from pipelines.storage_checks import ensure_writable
from schemas.tables import _schema

PENDING_TABLE = "_internal/pending_event_dates"
PENDING = _schema(("consumer", StringType()), ("event_date", DateType()), ("batch", StringType()))
CONSUMERS = ("gold", "features")


# --- the three tasks ------------------------------------------------------------------


def bronze_silver(argv: Sequence[str] | None = None) -> int:
    """Process ingest dates into bronze, quarantine and silver; queue the changed dates."""
    parser = _parser("lakehouse-bronze-silver", bronze_silver.__doc__)
    _landing_arg(parser)
    _lakehouse_arg(parser)
    parser.add_argument(
        "--date",
        action="append",
        dest="dates",
        metavar="YYYY-MM-DD",
        help="ingest date to process (repeatable; default: every date in the landing zone)",
    )
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="only dates whose landing files differ from when they were last processed "
        "(new dates, late files, erasures); the scheduled job uses this",
    )
    parser.add_argument(
        "--gate-threshold",
        type=float,
        default=None,
        help="max share of records failing rules 1-8 (env LAKEHOUSE_GATE_THRESHOLD, 0.25)",
    )
    return _run(parser, argv, _bronze_silver)


def gold(argv: Sequence[str] | None = None) -> int:
    """Bring the gold tables in step with silver for the pending changed event dates."""
    return _run(_consumer_parser("lakehouse-gold", gold.__doc__), argv, _consumer("gold"))


def features(argv: Sequence[str] | None = None) -> int:
    """Bring features/user_features in step with silver for the pending event dates."""
    parser = _consumer_parser("lakehouse-features", features.__doc__)
    return _run(parser, argv, _consumer("features"))


# Console scripts and Databricks python_wheel_task call these without arguments. A
# wheel task ignores a returned value, so a failure must leave through SystemExit.
def bronze_silver_main() -> None:
    _exit(bronze_silver())


def gold_main() -> None:
    _exit(gold())


def features_main() -> None:
    _exit(features())


# --- what the tasks do ----------------------------------------------------------------


def _bronze_silver(args: argparse.Namespace) -> int:
    landing = _required(args.landing, "--landing", "LAKEHOUSE_LANDING")
    root = _required(args.lakehouse, "--lakehouse", "LAKEHOUSE_ROOT")
    threshold = _threshold(args.gate_threshold)
    # Check the user's inputs before paying for a Spark start.
    dates = resolve_dates(landing, [parse_date(d) for d in args.dates or []])
    ensure_writable(root)
    spark = job_spark()
    if args.changed_only:
        dates = changed_ingest_dates(spark, landing, root, dates)
        if not dates:
            print("[lakehouse] no ingest date has new or changed landing files")
            return 0
    print(f"[lakehouse] bronze+silver: {', '.join(d.isoformat() for d in dates)}")
    result = run_bronze_silver(spark, landing, root, dates, threshold)
    queue_changed_dates(spark, root, result.changed_event_dates)
    print(f"[lakehouse] {len(result.changed_event_dates)} event date(s) queued for gold, features")
    for day, outcome in sorted(result.outcomes.items()):
        state = "ok" if outcome.gate_passed else "GATE FAILED"
        print(f"[lakehouse] {day}: {outcome.records} records, {outcome.failed} failed - {state}")
    for day in result.failed_dates:
        outcome = result.outcomes[day]
        print(
            f"lakehouse: gate failed for ingest date {day}: {outcome.failed_share:.1%} failed "
            f"(threshold {threshold:.0%}); top reasons: {outcome.top_reasons()}",
            file=sys.stderr,
        )
    return 1 if result.failed_dates else 0


def _consumer(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        root = _required(args.lakehouse, "--lakehouse", "LAKEHOUSE_ROOT")
        spark = job_spark()
        dates, batches = pending_dates(spark, root, name)
        changed = None if args.full_rebuild else dates
        shown = "all (full rebuild)" if changed is None else str(len(dates))
        print(f"[lakehouse] {name}: {shown} changed event date(s)")
        print(f"[lakehouse] {name}: {_brief(UPDATES[name](spark, root, changed))}")
        clear_pending(spark, root, name, batches)
        return 0

    return run


def _brief(result: object) -> object:
    """An update's result for the log, with date lists shown as their length."""
    if isinstance(result, dict):
        return {key: _brief(value) for key, value in result.items()}
    return f"{len(result)} dates" if isinstance(result, list) else result


UPDATES: dict[str, Callable[[SparkSession, str, set[date] | None], dict]] = {
    "gold": update_gold,
    "features": update_features,
}


# --- state kept in the lakehouse ------------------------------------------------------


def changed_ingest_dates(
    spark: SparkSession, landing: str, root: str, dates: list[date]
) -> list[date]:
    """The dates whose landing files differ from the fingerprint silver recorded for them."""
    path = table_path(root, INGEST_LOG_TABLE)
    recorded = {}
    if table_exists(path):
        rows = read_table(spark, path).select("ingest_date", "files_fingerprint").collect()
        recorded = {r["ingest_date"]: r["files_fingerprint"] for r in rows}
    files = discover(landing, dates)
    return [d for d in dates if recorded.get(d) != fingerprint(files[d])]


def queue_changed_dates(spark: SparkSession, root: str, changed: set[date]) -> None:
    """Append the changed event dates for every consumer, as one batch (one commit)."""
    path = table_path(root, PENDING_TABLE)
    ensure_table(spark, path, PENDING)
    batch = uuid.uuid4().hex
    rows = [(consumer, day, batch) for consumer in CONSUMERS for day in sorted(changed)]
    if rows:
        spark.createDataFrame(rows, PENDING).write.format("delta").mode("append").save(path)


def pending_dates(spark: SparkSession, root: str, consumer: str) -> tuple[set[date], list[str]]:
    """The event dates queued for a consumer, and the batches they came in."""
    path = table_path(root, PENDING_TABLE)
    if not table_exists(path):
        return set(), []
    rows = read_table(spark, path).where(F.col("consumer") == consumer).collect()
    return {r["event_date"] for r in rows}, sorted({r["batch"] for r in rows})


def clear_pending(spark: SparkSession, root: str, consumer: str, batches: list[str]) -> None:
    """Delete the consumed batches only: one queued meanwhile stays for the next run."""
    if not batches:
        return
    path = table_path(root, PENDING_TABLE)
    listed = ", ".join(f"'{b}'" for b in batches)  # uuid hex: nothing to escape
    spark.sql(f"DELETE FROM delta.`{path}` WHERE consumer = '{consumer}' AND batch IN ({listed})")


# --- plumbing -------------------------------------------------------------------------


def job_spark() -> SparkSession:
    """On Databricks the cluster's own session; elsewhere the project's `get_spark()`."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return get_spark()
    # The platform built the session (Delta included); the bundle's cluster sets
    # SESSION_CONF too, this covers clusters that do not.
    spark = SparkSession.builder.getOrCreate()
    for key, value in SESSION_CONF.items():
        with contextlib.suppress(Exception):
            spark.conf.set(key, value)
    return spark


def _parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=doc)


def _landing_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--landing",
        default=os.environ.get("LAKEHOUSE_LANDING") or None,
        help="landing zone: folder or abfss:// URI (env LAKEHOUSE_LANDING)",
    )


def _lakehouse_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lakehouse",
        default=os.environ.get("LAKEHOUSE_ROOT") or None,
        help="lakehouse root: folder or abfss:// URI (env LAKEHOUSE_ROOT)",
    )


def _consumer_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    parser = _parser(prog, doc)
    _lakehouse_arg(parser)
    parser.add_argument(
        "--full-rebuild",
        action="store_true",
        help="recompute the whole table from silver instead of the pending dates",
    )
    return parser


def _required(value: str | None, option: str, env: str) -> str:
    if not value:
        raise UserError(f"{option} is required (or set {env})")
    return value


def _threshold(value: float | None) -> float:
    threshold = value if value is not None else gate_threshold_from_env()
    if not 0 <= threshold <= 1:
        raise UserError(f"--gate-threshold must be between 0 and 1, got {threshold}")
    return threshold


def _run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    task: Callable[[argparse.Namespace], int],
) -> int:
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse already printed its one-line usage error
        return int(stop.code or 0)
    try:
        return task(args)
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2


def _exit(code: int) -> None:
    if code:
        sys.exit(code)
