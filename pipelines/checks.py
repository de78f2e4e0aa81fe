"""The checks that gate each step of a run, without any orchestrator.

Every launcher runs these same functions (pipelines/plan.py; the Dagster asset checks in
orchestration/checks.py only translate their results):

* `suite` — a table's GX suite (`expectations/suites/*.json`) on the rows the run wrote:
  bronze and quarantine by ingest_date; silver by ingest_date *within the event dates the
  run changed* (silver is partitioned by event_date, so this reads only those partitions);
  gold by the event dates it rewrote, features by the as_of dates it rewrote. An `error`
  expectation that fails blocks everything downstream; `warn` ones only record.
* `reconciliation` — gold totals per event_date equal silver's (one GX suite for all five).
* `batch_gate` — the §4 gate of every ingest date of the run. It fails without blocking:
  the other dates of the run must still reach gold.
* `conservation` — rows(bronze) = Σ silver + quarantine, per ingest date that passed.

Great Expectations is imported inside the functions: it takes seconds to import, and the
Dagster code location (webserver, sensor ticks) should load without it. A run that will
check starts that import in the background (`preload`) while its JVM starts.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.changes import ALL, Changes
from pipelines.delta_io import read_table, table_exists, table_path
from pipelines.threads import in_order
from schemas.tables import (
    BRONZE_TABLE,
    FEATURES_TABLE,
    GOLD_TABLES,
    INGEST_LOG_TABLE,
    QUARANTINE_TABLE,
    SILVER_TABLES,
)

if TYPE_CHECKING:
    from expectations.suites import ExpectationSummary, SuiteResult

SUITES_AT_ONCE = 2  # one in GX, the next reading its rows
ONE_TASK_ROWS = 1_000_000  # up to this many, a suite's rows are checked in one task

# Which reconciled measures belong to which gold table (expectations/build_suites.py).
RECONCILED_BY_TABLE = {
    "api_usage_daily": ("api_requests", "api_errors"),
    "ai_usage_daily": ("ai_requests", "ai_tokens"),
    "revenue_daily": ("invoices", "amount_cents"),
    "signups_daily": ("signups",),
    "daily_active_users": ("active_users",),
}


def preload() -> threading.Thread:
    """Import Great Expectations in a background thread; returns at once.

    Measured here, `import great_expectations` takes 10–40 s (it pulls in scipy, pandas,
    SQLAlchemy, Altair), and a run pays it at its first check. Started just before the
    Spark session, the import runs while Python only waits for the JVM; a check that comes
    first simply waits for the import to end (Python's import lock).
    """
    thread = threading.Thread(
        target=importlib.import_module, args=("expectations.suites",), daemon=True
    )
    thread.start()
    return thread


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, the same for every launcher (Dagster shows it as an asset check)."""

    target: str  # the table checked: "silver/logins"
    name: str  # "gx_suite" | "reconciles_with_silver" | "batch_gate" | "conservation"
    passed: bool
    blocking: bool  # a failure stops the steps downstream
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    data_docs_url: str | None = None

    @property
    def label(self) -> str:
        return f"{self.target}:{self.name}"

    @property
    def blocks(self) -> bool:
        return self.blocking and not self.passed


@dataclass(frozen=True)
class CheckContext:
    """What every check needs: the session, the lakehouse, where Data Docs go, a run label."""

    spark: SparkSession
    root: str
    data_docs_dir: str | None = None
    run_name: str | None = None


# --- rows a run wrote ----------------------------------------------------------------------


def _table(ctx: CheckContext, relative: str) -> DataFrame | None:
    path = table_path(ctx.root, relative)
    return read_table(ctx.spark, path) if table_exists(path) else None


def rows_by_ingest_date(ctx: CheckContext, relative: str, changes: Changes) -> DataFrame | None:
    table = _table(ctx, relative) if changes.ingest_dates else None
    if table is None:
        return None
    rows = table.where(F.col("ingest_date").isin(changes.ingest_dates))
    if "event_date" in table.columns and changes.event_dates not in (None, ALL):
        # Partition pruning: a row of these ingest dates is on an event date the run changed.
        if not changes.event_dates:
            return None
        rows = rows.where(F.col("event_date").isin(sorted(changes.event_dates)))
    return rows


def rows_by_dates(
    ctx: CheckContext, relative: str, column: str, dates: Iterable[date] | str | None
) -> DataFrame | None:
    """Rows of the dates a step rewrote; the whole table after a rebuild (ALL)."""
    table = _table(ctx, relative)
    if table is None or dates is None:
        return None
    if dates == ALL:
        return table
    wanted = sorted(dates)
    return table.where(F.col(column).isin(wanted)) if wanted else None


# --- suites -------------------------------------------------------------------------------


def suite(ctx: CheckContext, target: str, suite_name: str, rows: DataFrame | None) -> CheckResult:
    """Run one GX suite on `rows` (None: nothing written, the check passes)."""
    if rows is None:
        return CheckResult(
            target,
            "gx_suite",
            passed=True,
            blocking=True,
            description="nothing written by this run",
            metadata={"suite": suite_name, "rows_validated": 0},
        )
    from expectations.suites import validate

    cached = rows.cache()
    snapshot = cached
    try:
        snapshot, count = validation_snapshot(cached, ONE_TASK_ROWS)
        result = validate(snapshot, suite_name, ctx.data_docs_dir, run_name=ctx.run_name)
    finally:
        snapshot.unpersist()
        cached.unpersist()
    return suite_check_result(target, result, rows=count)


def validation_snapshot(cached: DataFrame, one_task_rows: int) -> tuple[DataFrame, int]:
    """What a suite validates: `cached` (marked for caching) read into memory, in one
    partition when it has at most `one_task_rows` rows; and its row count.

    GX runs dozens of small jobs per suite; on a small run's rows each would otherwise
    schedule a task per file read (measured: 12 s -> 7 s in one task). Larger rows keep
    the partitions they were read in, so a day at scale is checked by the whole cluster
    (one partition of a billion events would also exceed what one cached block can hold).
    """
    count = cached.count()
    if count > one_task_rows:
        return cached, count
    return cached.coalesce(1).cache(), count


def suite_check_result(
    target: str, result: SuiteResult, rows: int | None = None, name: str = "gx_suite"
) -> CheckResult:
    """Error expectations failing: a blocking failure; only warnings: a non-blocking one."""
    failed = (*result.blocking_failures, *result.warnings)
    metadata: dict[str, Any] = {
        "suite": result.suite_name,
        "expectations": result.evaluated,
        "blocking_failures": len(result.blocking_failures),
        "warnings": len(result.warnings),
        "failed_expectations": result.to_metadata()["failed"],
        "seconds": round(result.seconds, 2),
    }
    if rows is not None:
        metadata["rows_validated"] = rows
    return CheckResult(
        target,
        name,
        passed=not failed,
        blocking=bool(result.blocking_failures),
        description="; ".join(describe(e) for e in failed[:5]) or None,
        metadata=metadata,
        data_docs_url=result.data_docs_url,
    )


def describe(e: ExpectationSummary) -> str:
    what = f"{e.type}({e.column})" if e.column else e.type
    if e.exception:
        return f"{e.severity}: {what} could not run: {e.exception}"
    return f"{e.severity}: {what}: {e.unexpected_count} unexpected"


def bronze_suites(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    return [
        suite(ctx, BRONZE_TABLE, "bronze.events", rows_by_ingest_date(ctx, BRONZE_TABLE, changes))
    ]


def side_by_side(calls: list[Callable[[], CheckResult]]) -> list[CheckResult]:
    """Run these suites two at a time; results in the order given.

    GX validates one DataFrame at a time (`expectations.suites`), so while one suite is in
    GX the next one reads and caches its rows: the Delta read overlaps GX's Python.
    """
    return list(in_order(calls, SUITES_AT_ONCE, "suite"))


def silver_suites(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    def check(suite_name: str, relative: str) -> CheckResult:
        return suite(ctx, relative, suite_name, rows_by_ingest_date(ctx, relative, changes))

    tables = {"quarantine.events": QUARANTINE_TABLE}
    tables.update({f"silver.{name}": relative for name, relative in SILVER_TABLES.items()})
    return side_by_side([functools.partial(check, n, r) for n, r in tables.items()])


def gold_suites(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    def check(name: str, relative: str) -> CheckResult:
        rows = rows_by_dates(ctx, relative, "event_date", changes.gold_dates.get(name))
        return suite(ctx, relative, f"gold.{name}", rows)

    return side_by_side(
        [functools.partial(check, name, relative) for name, relative in GOLD_TABLES.items()]
    )


def features_suites(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    rows = rows_by_dates(ctx, FEATURES_TABLE, "as_of_date", changes.feature_dates)
    return [suite(ctx, FEATURES_TABLE, "features.user_features", rows)]


# --- reconciliation, gate, conservation ----------------------------------------------------


def reconciliation(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    """Gold totals per event_date equal silver's: one result per gold table."""
    from expectations.reconcile import reconcile_gold_with_silver

    def tables(paths: dict[str, str]) -> dict[str, DataFrame]:
        return {n: read_table(ctx.spark, table_path(ctx.root, p)) for n, p in paths.items()}

    if not all(table_exists(table_path(ctx.root, p)) for p in GOLD_TABLES.values()):
        return []
    written = [changes.gold_dates.get(name) for name in GOLD_TABLES]
    # The dates gold rewrote (all of them after a rebuild, or when a table's are unknown).
    dates = None if any(d in (None, ALL) for d in written) else set().union(*written)
    if dates == set():
        return [
            CheckResult(relative, "reconciles_with_silver", True, True, "no gold date rewritten")
            for relative in GOLD_TABLES.values()
        ]
    result = reconcile_gold_with_silver(
        tables(SILVER_TABLES), tables(GOLD_TABLES), ctx.data_docs_dir, event_dates=dates
    )
    results = []
    for table, relative in GOLD_TABLES.items():
        measures = RECONCILED_BY_TABLE[table]
        mine = [
            e
            for e in result.expectations
            if e.column and e.column.split(",")[0].removesuffix("_gold") in measures
        ]
        shared_failed = [e for e in result.blocking_failures if e not in mine]
        failed = [e for e in mine if not e.success] + shared_failed
        results.append(
            CheckResult(
                relative,
                "reconciles_with_silver",
                passed=not failed,
                blocking=True,
                description="; ".join(describe(e) for e in failed[:5]) or None,
                metadata={
                    "suite": result.suite_name,
                    "measures": list(measures),
                    "failed_expectations": [describe(e) for e in failed],
                },
                data_docs_url=result.data_docs_url,
            )
        )
    return results


def gate_outcomes(spark: SparkSession, root: str, dates: list[date]) -> dict[str, dict[str, Any]]:
    """{ingest date: its latest §4 gate outcome} from `_internal/ingest_log`."""
    path = table_path(root, INGEST_LOG_TABLE)
    if not dates or not table_exists(path):
        return {}
    rows = read_table(spark, path).where(F.col("ingest_date").isin(dates)).collect()
    return {
        r["ingest_date"].isoformat(): {
            "records": r["records"],
            "failed_rules_1_8": r["failed"],
            "failed_share": round(r["failed_share"], 4),
            "threshold": r["gate_threshold"],
            "gate_passed": r["gate_passed"],
            "top_reasons": r["top_reasons"],
        }
        for r in sorted(rows, key=lambda r: r["ingest_date"])
    }


def batch_gate(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    outcomes = gate_outcomes(ctx.spark, ctx.root, changes.ingest_dates)
    failed = {d: o for d, o in outcomes.items() if not o["gate_passed"]}
    return [
        CheckResult(
            QUARANTINE_TABLE,
            "batch_gate",
            passed=not failed,
            blocking=False,  # the other dates of the run must still reach gold (§4)
            description="; ".join(
                f"{d}: {o['failed_share']:.1%} of {o['records']} records failed "
                f"(threshold {o['threshold']:.0%}); top reasons: {o['top_reasons']}"
                for d, o in failed.items()
            )
            or (None if outcomes else "no ingest dates processed"),
            metadata={"failed_dates": failed, "dates": outcomes},
        )
    ]


def conservation(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    outcomes = gate_outcomes(ctx.spark, ctx.root, changes.ingest_dates)
    passed = [date.fromisoformat(d) for d, o in outcomes.items() if o["gate_passed"]]
    counts = _counts_by_ingest_date(ctx, passed, changes)
    off = {d: c for d, c in counts.items() if c["bronze"] != c["silver"] + c["quarantine"]}
    return [
        CheckResult(
            QUARANTINE_TABLE,
            "conservation",
            passed=not off,
            blocking=True,
            description="; ".join(f"{d}: {c}" for d, c in off.items())
            or (None if passed else "no ingest dates passed their gate"),
            metadata={"dates_checked": [d.isoformat() for d in passed], "counts": counts},
        )
    ]


def _counts_by_ingest_date(
    ctx: CheckContext, dates: list[date], changes: Changes
) -> dict[str, dict[str, int]]:
    if not dates:
        return {}
    scope = Changes(ingest_dates=dates, event_dates=changes.event_dates)

    def tagged(relative: str, side: str) -> DataFrame | None:
        rows = rows_by_ingest_date(ctx, relative, scope)
        return None if rows is None else rows.select("ingest_date", F.lit(side).alias("side"))

    parts = [tagged(BRONZE_TABLE, "bronze"), tagged(QUARANTINE_TABLE, "quarantine")]
    parts += [tagged(path, "silver") for path in SILVER_TABLES.values()]
    present = [p for p in parts if p is not None]
    counts = {d.isoformat(): {"bronze": 0, "silver": 0, "quarantine": 0} for d in dates}
    if not present:
        return counts
    rows = functools.reduce(DataFrame.unionByName, present)
    for r in rows.groupBy("ingest_date", "side").count().collect():
        counts[r["ingest_date"].isoformat()][r["side"]] = r["count"]
    return counts
