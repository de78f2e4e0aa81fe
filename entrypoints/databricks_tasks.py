"""The Databricks job's tasks (wheel entry points, also console scripts): slices of the plan.

    lakehouse-bronze-silver  plan steps bronze, silver   + their checks (suites, gate,
                                                           conservation)
    lakehouse-gold           plan steps gold, publish    + gold suites, reconciliation
    lakehouse-features       plan step features          + features suite

Each task runs `pipelines.plan.run_plan` for its steps, so a Databricks run applies the
same Great Expectations gates as `lakehouse run` and Dagster. Exit codes: 0 ok; 1 a batch
gate held an ingest date back (the other dates completed; the job passes
`--exit-zero-on-gate-failure`, so its downstream tasks go on and the run ledger and the
alert webhook report the date); 2 a user error (one line); 3 a blocking check failed —
nothing is queued downstream, the job stops there (run_if ALL_SUCCESS) and the failure
and its Data Docs page are in the task's output.

Tasks are separate processes, so the event dates silver changed travel through the
lakehouse: bronze-silver appends them to `_internal/pending_event_dates`, once per
consumer (gold, features); each consumer runs its steps for exactly its pending dates
and deletes those rows only after its steps and checks succeeded, so a failed task
catches up on its next run, and a retry repeats idempotent work.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.changes import ALL, Changes
from pipelines.checks import preload
from pipelines.config import UserError
from pipelines.delta_io import commit, ensure_table, read_table, table_exists, table_path
from pipelines.landing import fingerprint, list_landing_files
from pipelines.options import add_location_options, add_run_options, requested_dates, run_settings
from pipelines.plan import PlanOutcome, RunSettings, resolve_dates, run_plan
from pipelines.spark import get_spark
from pipelines.storage_checks import ensure_writable
from schemas.tables import INGEST_LOG_TABLE, PENDING, PENDING_TABLE

CONSUMERS = {"gold": ("gold", "publish"), "features": ("features",)}
GATE_FAILED, USER_ERROR, CHECK_FAILED = 1, 2, 3


# --- the three tasks ------------------------------------------------------------------


def bronze_silver(argv: Sequence[str] | None = None) -> int:
    """Process ingest dates into bronze, quarantine and silver; queue the changed dates."""
    parser = argparse.ArgumentParser(prog="lakehouse-bronze-silver", description=__doc__)
    add_run_options(parser)
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="only dates whose landing files differ from when they were last processed "
        "(new dates, late files, erasures); the scheduled job uses this",
    )
    parser.add_argument(
        "--exit-zero-on-gate-failure",
        action="store_true",
        help="exit 0 when a batch gate held an ingest date back (the other dates completed "
        "and the held-back ones are in the output, the ledger and the alert); the Databricks "
        "job passes it, so its downstream tasks run under run_if ALL_SUCCESS",
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
    settings = run_settings(args)
    # Check the user's inputs before paying for a Spark start.
    dates = resolve_dates(settings.landing, requested_dates(args))
    ensure_writable(settings.root)
    preload()
    spark = get_spark()
    if args.changed_only:
        dates = changed_ingest_dates(spark, settings, dates)
        if not dates:
            print("[lakehouse] no ingest date has new or changed landing files")
            return 0
    print(f"[lakehouse] bronze+silver: {', '.join(d.isoformat() for d in dates)}")
    outcome = run_plan(
        spark,
        settings,
        dates,
        steps=("bronze", "silver"),
        launcher="databricks",
        progress=_say,
    )
    if outcome.blocking_failures:
        return _report_blocking(outcome)
    changed = outcome.changes.event_dates_or_none() or set()
    queue_changed_dates(spark, settings.root, changed)
    print(f"[lakehouse] {len(changed)} event date(s) queued for gold, features")
    for day, gate in sorted(outcome.silver.outcomes.items() if outcome.silver else []):
        state = "ok" if gate.gate_passed else "GATE FAILED"
        print(f"[lakehouse] {day}: {gate.records} records, {gate.failed} failed - {state}")
    for day in outcome.failed_dates:
        gate = outcome.silver.outcomes[day]
        print(
            f"lakehouse: gate failed for ingest date {day}: {gate.failed_share:.1%} failed "
            f"(threshold {settings.gate_threshold:.0%}); top reasons: {gate.top_reasons}",
            file=sys.stderr,
        )
    held_back = bool(outcome.failed_dates or outcome.unreadable)
    return GATE_FAILED if held_back and not args.exit_zero_on_gate_failure else 0


def _consumer(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = run_settings(args, need_landing=False)
        preload()
        spark = get_spark()
        dates, batches = pending_dates(spark, settings.root, name)
        changes = Changes(event_dates=ALL if args.full_rebuild else dates)
        shown = "all (full rebuild)" if args.full_rebuild else str(len(dates))
        print(f"[lakehouse] {name}: {shown} changed event date(s)")
        outcome = run_plan(
            spark,
            settings,
            steps=CONSUMERS[name],
            changes=changes,
            launcher="databricks",
            progress=_say,
        )
        if outcome.blocking_failures:
            return _report_blocking(outcome)  # the pending dates stay for the next run
        clear_pending(spark, settings.root, name, batches)
        return 0

    return run


def _report_blocking(outcome: PlanOutcome) -> int:
    for check in outcome.blocking_failures:
        where = f" (Data Docs: {check.data_docs_url})" if check.data_docs_url else ""
        print(f"lakehouse: check {check.label} failed: {check.description}{where}", file=sys.stderr)
    print("lakehouse: a blocking check failed; downstream tasks get nothing new", file=sys.stderr)
    return CHECK_FAILED


def _say(message: str) -> None:
    print(f"[lakehouse] {message}", flush=True)


# --- state kept in the lakehouse ------------------------------------------------------


def changed_ingest_dates(
    spark: SparkSession, settings: RunSettings, dates: list[date]
) -> list[date]:
    """The dates whose landing files differ from the fingerprint silver recorded for them."""
    path = table_path(settings.root, INGEST_LOG_TABLE)
    recorded = {}
    if table_exists(path):
        rows = read_table(spark, path).select("ingest_date", "files_fingerprint").collect()
        recorded = {r["ingest_date"]: r["files_fingerprint"] for r in rows}
    return [
        d for d in dates if recorded.get(d) != fingerprint(list_landing_files(settings.landing, d))
    ]


def queue_changed_dates(spark: SparkSession, root: str, changed: set[date]) -> None:
    """Append the changed event dates for every consumer, as one batch (one commit)."""
    path = table_path(root, PENDING_TABLE)
    ensure_table(spark, path, PENDING)
    batch = uuid.uuid4().hex
    rows = [(consumer, day, batch) for consumer in CONSUMERS for day in sorted(changed)]
    if rows:
        batch_rows = spark.createDataFrame(rows, PENDING)
        commit(path, lambda: batch_rows.write.format("delta").mode("append").save(path))


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
    statement = f"DELETE FROM delta.`{path}` WHERE consumer = '{consumer}' AND batch IN ({listed})"
    commit(path, lambda: spark.sql(statement))


# --- plumbing -------------------------------------------------------------------------


def _consumer_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    add_location_options(parser, landing=False)
    parser.add_argument(
        "--full-rebuild",
        action="store_true",
        help="recompute the whole table from silver instead of the pending dates",
    )
    return parser


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
        return USER_ERROR


def _exit(code: int) -> None:
    if code:
        sys.exit(code)
