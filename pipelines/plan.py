"""The run plan: the ordered steps of a run and the checks that gate each, defined once.

    step      reads → writes                                  checks after it
    bronze    landing → bronze/events                         bronze suite
    silver    bronze → quarantine/events + six silver tables  batch gate, quarantine and
                                                              silver suites, conservation
    gold      silver → five gold tables                       gold suites, reconciliation
    features  silver → features/user_features                 features suite
    publish   gold → Azure Data Explorer (off unless configured)

`run_plan` runs the steps in this process: `lakehouse run`, `lakehouse forget-user`'s
re-processing, the Databricks tasks (each a slice of the steps) and the benchmark. The
Dagster assets and asset checks (orchestration/) wrap the same step and check functions,
so every launcher applies the same gates. A blocking check that fails skips the steps
that depend on the checked one; an ingest date held back by its gate does not (§4: the
other dates of the run complete). A step's checks run beside the next step when that step
does not read the checked one (gold's checks while features are computed).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines import checks
from pipelines.bronze import write_bronze
from pipelines.changes import ALL, Changes
from pipelines.checks import CheckContext, CheckResult
from pipelines.config import UserError
from pipelines.delta_io import read_table, table_path
from pipelines.features import update_features
from pipelines.gold import update_gold
from pipelines.landing import (
    fingerprint,
    list_ingest_dates,
    list_landing_files,
    unreadable_files,
)
from pipelines.silver import SilverResult, write_silver
from pipelines.storage_checks import ensure_writable
from pipelines.threads import in_order
from schemas.tables import BRONZE_TABLE, GOLD_TABLES

log = logging.getLogger("lakehouse")

Progress = Callable[[str], None]

STEPS = ("bronze", "silver", "gold", "features", "publish")
# Launchers whose runs go to the run ledger `_internal/runs` (and alert when they fail);
# test fixtures that only build a lakehouse ("test") leave no record.
RECORDED_LAUNCHERS = ("cli", "dagster", "databricks", "erasure", "maintenance", "bench")
# What each step reads: a blocking check failing on a step skips the steps that need it.
NEEDS = {"silver": "bronze", "gold": "silver", "features": "silver", "publish": "gold"}


@dataclass(frozen=True)
class RunSettings:
    """Where a run reads and writes, and how strict its gate is."""

    landing: str
    root: str
    gate_threshold: float = 0.25
    data_docs_dir: str | None = None  # GX Data Docs folder; None writes none


@dataclass
class StepOutcome:
    name: str
    status: str = "skipped"  # "succeeded" | "failed" | "skipped"
    seconds: float = 0.0
    rows_written: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None


@dataclass
class PlanOutcome:
    """Everything a launcher reports about one run (and the run ledger records)."""

    run_id: str
    launcher: str
    dates: list[date]
    started_at: datetime
    ended_at: datetime | None = None
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    silver: SilverResult | None = None
    unreadable: dict[date, list[str]] = field(default_factory=dict)

    @property
    def checks(self) -> list[CheckResult]:
        return [c for step in self.steps.values() for c in step.checks]

    @property
    def failed_dates(self) -> list[date]:
        """Ingest dates held back by their gate."""
        return self.silver.failed_dates if self.silver else []

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocks]

    @property
    def failed_steps(self) -> list[StepOutcome]:
        return [s for s in self.steps.values() if s.status == "failed"]

    @property
    def status(self) -> str:
        if self.failed_steps:
            return "step_failed"
        if self.blocking_failures:
            return "check_failed"
        if self.failed_dates or self.unreadable:
            return "gate_failed"
        return "succeeded"

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def seconds(self) -> dict[str, float]:
        """Wall time per step and in all (what the benchmark and tests print)."""
        times = {name: s.seconds for name, s in self.steps.items()}
        end = self.ended_at or datetime.now(UTC)
        times["total"] = (end - self.started_at).total_seconds()
        return times

    # What callers of the earlier `run_pipeline` read.
    @property
    def gold(self) -> dict:
        return self.steps["gold"].detail if "gold" in self.steps else {}

    @property
    def features(self) -> dict:
        return self.steps["features"].detail if "features" in self.steps else {}


@dataclass
class Run:
    """One run in progress: its session, settings, what it changed so far."""

    spark: SparkSession
    settings: RunSettings
    outcome: PlanOutcome
    say: Progress

    @property
    def changes(self) -> Changes:
        return self.outcome.changes

    def check_context(self) -> CheckContext:
        span = _span(self.outcome.dates)
        return CheckContext(
            self.spark,
            self.settings.root,
            self.settings.data_docs_dir,
            run_name=f"{span} run {self.outcome.run_id[:8]}",
        )


# --- dates ---------------------------------------------------------------------------------


def resolve_dates(landing: str, dates: Sequence[date] | None) -> list[date]:
    """The requested ingest dates (default: all), each checked to exist in the landing zone."""
    available = list_ingest_dates(landing)
    if not dates:
        if not available:
            raise UserError(f"no ingest_date=YYYY-MM-DD folders in the landing zone: {landing}")
        return available
    missing = sorted(set(dates) - set(available))
    if missing:
        shown = ", ".join(d.isoformat() for d in missing)
        raise UserError(f"no landing folder for ingest date(s) {shown} under {landing}")
    return sorted(set(dates))


# --- steps ---------------------------------------------------------------------------------


def bronze_step(run: Run) -> StepOutcome:
    """Replace the bronze partitions of the run's dates that have readable landing files."""
    step = StepOutcome("bronze")
    files = {}
    for day in run.outcome.dates:
        found = list_landing_files(run.settings.landing, day)
        bad = unreadable_files(found)
        if bad:  # a truncated gzip: the date is skipped and named, the others go on
            run.outcome.unreadable[day] = bad
        elif found:  # only _SUCCESS / *.tmp: nothing landed yet, the date is left alone
            files[day] = found
    run.changes.ingest_dates = sorted(files)
    run.changes.fingerprints = {d: fingerprint(f) for d, f in files.items()}
    if files:
        written = write_bronze(run.spark, run.settings.root, files)
        step.detail["rows_by_ingest_date"] = {d.isoformat(): n for d, n in written.items()}
        step.rows_written = sum(step.detail["rows_by_ingest_date"].values())
    step.detail["files_by_ingest_date"] = {d.isoformat(): len(f) for d, f in files.items()}
    return step


def silver_step(run: Run) -> StepOutcome:
    """Validate, gate and deduplicate the run's bronze rows into quarantine and silver."""
    step = StepOutcome("silver")
    dates = run.changes.ingest_dates
    if not dates:
        run.changes.event_dates = set()
        return step
    root = run.settings.root
    bronze = read_table(run.spark, table_path(root, BRONZE_TABLE)).where(
        F.col("ingest_date").isin(dates)
    )
    result = write_silver(
        run.spark, root, run.changes.fingerprints, bronze, dates, run.settings.gate_threshold
    )
    run.outcome.silver = result
    run.changes.event_dates = set(result.changed_event_dates)
    step.rows_written = sum(result.silver_rows_written.values()) + result.quarantine_rows_written
    step.detail = {
        "silver_rows_upserted": result.silver_rows_written,
        "quarantine_rows": result.quarantine_rows_written,
        "changed_event_dates": len(result.changed_event_dates),
        "gate": {d.isoformat(): o.as_dict() for d, o in sorted(result.outcomes.items())},
    }
    return step


def gold_step(run: Run) -> StepOutcome:
    """Recompute the gold dates the changed event dates affect (all when unknown)."""
    step = StepOutcome("gold")
    results = update_gold(run.spark, run.settings.root, run.changes.event_dates_or_none())
    for table, info in results.items():
        full = info.get("mode") == "full"
        run.changes.gold_dates[table] = (
            ALL if full else {date.fromisoformat(d) for d in info.get("dates", [])}
        )
        step.rows_written += int(info.get("rows_written", 0))
    step.detail = results
    return step


def features_step(run: Run) -> StepOutcome:
    """Recompute the feature snapshots the changed event dates affect."""
    step = StepOutcome("features")
    result = update_features(run.spark, run.settings.root, run.changes.event_dates_or_none())
    full = result.get("mode") == "full"
    run.changes.feature_dates = (
        ALL if full else {date.fromisoformat(d) for d in result.get("as_of_dates", [])}
    )
    step.rows_written = sum(
        int(result.get(k, 0)) for k in ("rows_written", "rows_inserted", "rows_updated")
    )
    step.detail = {k: v for k, v in result.items() if k != "as_of_dates"}
    return step


def publish_step(run: Run) -> StepOutcome:
    """Copy the gold event dates the run rewrote to Azure Data Explorer (when configured)."""
    from pipelines.adx import AdxSettings, gold_frames_for_dates, publish_gold
    from schemas.tables import GOLD as GOLD_SCHEMAS

    step = StepOutcome("publish")
    settings = AdxSettings.from_env()
    if settings is None:
        step.detail = {"published": False, "reason": "ADX not configured"}
        return step
    published: dict[str, dict[str, int]] = {}
    for table, dates in run.changes.gold_dates.items():
        gold = read_table(run.spark, table_path(run.settings.root, GOLD_TABLES[table]))
        if dates == ALL:
            dates = {r[0] for r in gold.select("event_date").distinct().collect()}
        if not dates:
            continue
        rows = gold_frames_for_dates(gold, dates)
        result = publish_gold(settings, f"gold_{table}", rows, sorted(dates), GOLD_SCHEMAS[table])
        published[table] = {d.isoformat(): n for d, n in result.rows_by_date.items()}
        step.rows_written += sum(result.rows_by_date.values())
    step.detail = {"published": True, "database": settings.database, "rows": published}
    return step


StepFunction = Callable[[Run], StepOutcome]
CheckFunction = Callable[[CheckContext, Changes], list[CheckResult]]

STEP_FUNCTIONS: dict[str, StepFunction] = {
    "bronze": bronze_step,
    "silver": silver_step,
    "gold": gold_step,
    "features": features_step,
    "publish": publish_step,
}
STEP_CHECKS: dict[str, tuple[CheckFunction, ...]] = {
    "bronze": (checks.bronze_suites,),
    "silver": (checks.batch_gate, checks.silver_suites, checks.conservation),
    "gold": (checks.gold_suites, checks.reconciliation),
    "features": (checks.features_suites,),
    "publish": (),
}


# --- running it ----------------------------------------------------------------------------


def run_plan(
    spark: SparkSession,
    settings: RunSettings,
    dates: Sequence[date] | None = None,
    *,
    steps: Sequence[str] = STEPS,
    changes: Changes | None = None,
    launcher: str = "cli",
    with_checks: bool = True,
    progress: Progress | None = None,
) -> PlanOutcome:
    """Run `steps` (in plan order) for these ingest dates, each followed by its checks.

    A step starts once the checks of the steps it reads have passed; checks of a step it
    does not read may still be running beside it (gold's, while features are computed).

    `changes` carries what earlier steps of the same run recorded when a launcher runs the
    plan in slices (the Databricks tasks); `with_checks=False` is for test fixtures that
    only build a lakehouse. Gate failures and failed checks are reported, not raised.
    """
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise UserError(f"unknown step(s) {', '.join(unknown)}; the plan has {', '.join(STEPS)}")
    ensure_writable(settings.root)
    selected = [s for s in STEPS if s in steps]
    run_dates = resolve_dates(settings.landing, dates) if "bronze" in selected else []
    outcome = PlanOutcome(
        run_id=str(uuid.uuid4()),
        launcher=launcher,
        dates=run_dates or sorted(changes.ingest_dates if changes else []),
        started_at=datetime.now(UTC),
        changes=changes or Changes(),
    )
    run = Run(spark, settings, outcome, progress or log.info)
    # A step's checks run on this one worker thread, so they overlap the next step when
    # that step does not read what they check (gold's checks while features are computed);
    # a step waits for the checks of every step it needs before it starts.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="checks") as checker:
        pending: dict[str, Future[list[CheckResult]]] = {}
        for name in selected:
            _settle(run, pending, upstream_of(name))
            if _blocked(outcome, name):
                run.say(f"  {name}: not run (a blocking check upstream failed)")
                outcome.steps[name] = StepOutcome(name, status="skipped")
                continue
            run.say(f"  {name} ...")
            try:
                step = execute_step(run, name)
            except UserError:
                raise
            except Exception as error:  # recorded for the ledger and alerts, then re-raised
                with suppress(Exception):  # the step's error is the one to report
                    _settle(run, pending, set(pending))
                outcome.ended_at = datetime.now(UTC)
                run.say(f"  {name} FAILED: {outcome.steps[name].error.splitlines()[0]}")
                record_run(spark, settings.root, outcome, error)
                raise
            run.say(f"  {name} done in {step.seconds:.1f}s")
            if with_checks:
                pending[name] = checker.submit(run_checks, run, name)
        _settle(run, pending, set(pending))
    outcome.ended_at = datetime.now(UTC)
    record_run(spark, settings.root, outcome)
    return outcome


def upstream_of(step: str) -> set[str]:
    """Every step whose output `step` reads, directly or through another step."""
    found: set[str] = set()
    upstream = NEEDS.get(step)
    while upstream:
        found.add(upstream)
        upstream = NEEDS.get(upstream)
    return found


def _settle(run: Run, pending: dict[str, Future[list[CheckResult]]], steps: set[str]) -> None:
    """Wait for the checks of these steps and keep their results on the step outcomes."""
    for name in [n for n in pending if n in steps]:
        run.outcome.steps[name].checks = pending.pop(name).result()


def execute_step(run: Run, name: str) -> StepOutcome:
    """Run one step of the plan, timed, and keep its outcome in `run.outcome.steps`.

    A failure is kept as a failed step (for the ledger and alerts) and re-raised; a
    user's mistake (`UserError`) is only re-raised. `run_plan` and the Dagster assets
    both run steps through here.
    """
    started = time.perf_counter()
    try:
        step = STEP_FUNCTIONS[name](run)
        step.status = "succeeded"
    except UserError:
        raise
    except Exception as error:
        step = StepOutcome(name, status="failed", error=f"{type(error).__name__}: {error}")
        step.seconds = time.perf_counter() - started
        run.outcome.steps[name] = step
        raise
    step.seconds = time.perf_counter() - started
    run.outcome.steps[name] = step
    return step


def record_run(
    spark: SparkSession, root: str, outcome: PlanOutcome, error: BaseException | None = None
) -> None:
    """Append the run to `_internal/runs` and alert on a held-back date, a failed blocking
    check or a failed step (pipelines/ledger.py, pipelines/alerts.py). Never raises."""
    if outcome.launcher not in RECORDED_LAUNCHERS:
        return
    from pipelines.ledger import RunRecord, finish_run

    try:
        finish_run(spark, root, RunRecord.from_outcome(outcome, error=error))
    except Exception as failure:  # the ledger must never fail the run it records
        log.error("could not record run %s: %s", outcome.run_id, failure)


def run_checks(run: Run, step: str) -> list[CheckResult]:
    """A step's checks, side by side (conservation's counts while GX runs the suites);
    results and progress lines in plan order."""
    ctx = run.check_context()
    results: list[CheckResult] = []
    calls = [functools.partial(check, ctx, run.changes) for check in STEP_CHECKS[step]]
    for step_results in in_order(calls, len(calls), "check"):
        for result in step_results:
            results.append(result)
            run.say(f"    check {result.label}: {_state(result)}")
    return results


def _blocked(outcome: PlanOutcome, step: str) -> bool:
    for upstream in upstream_of(step):
        done = outcome.steps.get(upstream)
        if done is not None and (done.status != "succeeded" or any(c.blocks for c in done.checks)):
            return True
    return False


def _state(result: CheckResult) -> str:
    if result.passed:
        return "passed"
    detail = f" - {result.description}" if result.description else ""
    return ("FAILED" if result.blocking or result.name == "batch_gate" else "warning") + detail


def _span(dates: Sequence[date]) -> str:
    if not dates:
        return "no dates"
    first, last = min(dates), max(dates)
    return first.isoformat() if first == last else f"{first}..{last}"
