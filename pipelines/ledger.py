"""The run ledger `_internal/runs`: one row per run, whatever launched it.

The Dagster instance keeps run history in a local SQLite file, and a Databricks task or a
`lakehouse run` outside the UI left no queryable trace at all. Every launcher appends one
row here when a run ends: what ran (launcher, ingest dates), what it wrote (per step its
time and rows), what failed (per ingest date its gate outcome, every check, the error).
It is a plain Delta table (strings, longs, doubles, booleans, timestamps, arrays of
structs; no deletion vectors, no column mapping), so delta-rs, Power BI, DuckDB and ADX
read it as well as Spark. One append commit per run: concurrent runs never conflict.

The records here are plain dataclasses (no Dagster), filled by any launcher, e.g. from a
`pipelines.plan.PlanOutcome` with `RunRecord.from_outcome`; a run's gates are the
`transformations.gate.GateOutcome`s silver decided, stored as they are.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.delta_io import commit, read_table, table_exists, table_path
from schemas.tables import INGEST_LOG_TABLE, RUNS, RUNS_TABLE
from transformations.gate import ROW_FIELDS, GateOutcome

log = logging.getLogger("lakehouse")

# The launchers the project has (the column takes any string; tests use "test").
LAUNCHERS = ("cli", "dagster", "databricks", "erasure", "maintenance", "bench", "test")
STATUSES = ("succeeded", "gate_failed", "check_failed", "step_failed")
STEP_STATUSES = ("succeeded", "failed", "skipped")
MAX_ERROR_CHARS = 8000


@dataclass
class StepRecord:
    name: str
    seconds: float | None = None
    rows_read: int | None = None
    rows_written: int | None = None
    status: str = "succeeded"  # "succeeded" | "failed" | "skipped"

    def __post_init__(self) -> None:
        if self.status not in STEP_STATUSES:
            raise ValueError(f"step status must be one of {STEP_STATUSES}, got {self.status!r}")


@dataclass
class CheckRecord:
    name: str  # "gx_suite" | "reconciles_with_silver" | "batch_gate" | "conservation" | ...
    target: str  # the table checked: "silver/logins"
    passed: bool
    blocking: bool
    description: str | None = None

    @classmethod
    def from_result(cls, result: Any) -> CheckRecord:
        """From a `pipelines.checks.CheckResult` (or anything with its attributes)."""
        return cls(
            name=str(result.name),
            target=str(result.target),
            passed=bool(result.passed),
            blocking=bool(result.blocking),
            description=result.description,
        )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunRecord:
    """One run, as the ledger stores it. `finish()` sets the end time and the status."""

    launcher: str
    ingest_dates: list[date] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    status: str | None = None  # derived by finish() unless set
    steps: list[StepRecord] = field(default_factory=list)
    gates: list[GateOutcome] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self.ingest_dates = sorted(set(self.ingest_dates))
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    # -- what went wrong ---------------------------------------------------------------

    @property
    def held_back(self) -> list[GateOutcome]:
        return [g for g in self.gates if not g.gate_passed]

    @property
    def failed_checks(self) -> list[CheckRecord]:
        """Blocking checks that failed (a held-back date's batch_gate check is not one)."""
        return [c for c in self.checks if c.blocking and not c.passed]

    @property
    def failed_steps(self) -> list[StepRecord]:
        return [s for s in self.steps if s.status == "failed"]

    def derived_status(self) -> str:
        if self.failed_steps or self.error:
            return "step_failed"
        if self.failed_checks:
            return "check_failed"
        if self.held_back:
            return "gate_failed"
        return "succeeded"

    # -- filling it in -------------------------------------------------------------------

    @contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        """Time a step; an exception marks it failed, is recorded as the error and re-raised."""
        record = StepRecord(name)
        self.steps.append(record)
        started = time.perf_counter()
        try:
            yield record
        except BaseException as error:
            record.status = "failed"
            self.error = self.error or f"{name}: {type(error).__name__}: {error}"
            raise
        finally:
            record.seconds = time.perf_counter() - started

    def finish(self, error: str | BaseException | None = None) -> RunRecord:
        """Set the end time (unless set) and the status (unless set explicitly)."""
        if error is not None and not self.error:
            self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        if self.ended_at is None:
            self.ended_at = _now()
        if self.status is None or (self.error and self.status != "step_failed"):
            self.status = self.derived_status()
        return self

    @classmethod
    def from_outcome(
        cls, outcome: Any, error: str | BaseException | None = None, launcher: str | None = None
    ) -> RunRecord:
        """From a `pipelines.plan.PlanOutcome` (duck-typed: run_id, launcher, dates,
        started_at, ended_at, steps, silver, unreadable, checks). Dates with unreadable
        landing files are recorded as held back, with the files as their reason."""
        steps = outcome.steps.values() if isinstance(outcome.steps, dict) else outcome.steps
        silver = getattr(outcome, "silver", None)
        outcomes = sorted(silver.outcomes.items()) if silver else []
        gates = [o for _, o in outcomes]
        for day, files in sorted((getattr(outcome, "unreadable", None) or {}).items()):
            gates.append(GateOutcome.unreadable(day, files))
        failed = [s for s in steps if getattr(s, "status", "") == "failed"]
        if error is None and failed and getattr(failed[0], "error", None):
            error = f"{failed[0].name}: {failed[0].error}"
        record = cls(
            launcher=launcher or outcome.launcher,
            ingest_dates=sorted(outcome.dates),
            run_id=str(outcome.run_id),
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
            steps=[
                StepRecord(
                    name=s.name,
                    seconds=getattr(s, "seconds", None),
                    rows_read=getattr(s, "rows_read", None),
                    rows_written=getattr(s, "rows_written", None),
                    status=getattr(s, "status", "succeeded"),
                )
                for s in steps
            ],
            gates=gates,
            checks=[CheckRecord.from_result(c) for c in outcome.checks],
        )
        return record.finish(error)

    def as_row(self) -> tuple:
        return (
            self.run_id,
            self.launcher,
            sorted(self.ingest_dates),
            self.started_at,
            self.ended_at,
            self.status,
            [
                (s.name, _float(s.seconds), _int(s.rows_read), _int(s.rows_written), s.status)
                for s in self.steps
            ],
            [g.as_row() for g in self.gates],
            [
                (c.name, c.target, bool(c.passed), bool(c.blocking), c.description)
                for c in self.checks
            ],
            _clip(self.error),
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _clip(text: str | None) -> str | None:
    """A JVM error's text carries its whole stack trace: keep the start, which names it."""
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"


# --- the table ------------------------------------------------------------------------


def append_run(spark: SparkSession, root: str, record: RunRecord) -> None:
    """Append the run's row to `<root>/_internal/runs` (one commit; created if missing)."""
    record.finish()
    path = table_path(root, RUNS_TABLE)
    row = spark.createDataFrame([record.as_row()], RUNS)
    # An append to a missing table creates it: the first run's row is its first commit.
    commit(path, lambda: row.write.format("delta").mode("append").save(path))


def finish_run(
    spark: SparkSession,
    root: str,
    record: RunRecord,
    error: str | BaseException | None = None,
    alert: bool = True,
) -> RunRecord:
    """What a launcher calls when a run ends (also when it failed): finish the record,
    append it to the ledger, and alert (LAKEHOUSE_ALERT_WEBHOOK_URL) when something failed.

    Never raises: a ledger or webhook outage is logged, it does not fail the run.
    """
    record.finish(error)
    try:
        append_run(spark, root, record)
    except Exception as failure:
        log.error("could not append run %s to the ledger: %s", record.run_id, failure)
    if alert:
        from pipelines.alerts import send_alert

        send_alert(record)
    return record


def recent_runs(spark: SparkSession, root: str, limit: int = 10) -> list[RunRecord]:
    """The last `limit` runs, newest first (none when no run was recorded yet)."""
    path = table_path(root, RUNS_TABLE)
    if not table_exists(path):
        return []
    rows = (
        read_table(spark, path)
        .withColumns(
            {  # epoch micros: independent of the session's and Python's time zones
                "started_us": F.unix_micros("started_at"),
                "ended_us": F.unix_micros("ended_at"),
            }
        )
        .orderBy(F.col("started_at").desc())
        .limit(limit)
        .collect()
    )
    return [_from_row(r) for r in rows]


def _from_micros(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1e6, tz=UTC)


def _from_row(row: Any) -> RunRecord:
    return RunRecord(
        launcher=row["launcher"],
        ingest_dates=list(row["ingest_dates"] or []),
        run_id=row["run_id"],
        started_at=_from_micros(row["started_us"]),
        ended_at=_from_micros(row["ended_us"]),
        status=row["status"],
        steps=[StepRecord(**s.asDict()) for s in row["steps"] or []],
        gates=[GateOutcome.from_row(g.asDict()) for g in row["gates"] or []],
        checks=[CheckRecord(**c.asDict()) for c in row["checks"] or []],
        error=row["error"],
    )


def held_back_dates(spark: SparkSession, root: str) -> list[GateOutcome]:
    """Ingest dates whose latest gate outcome (`_internal/ingest_log`) held them back."""
    path = table_path(root, INGEST_LOG_TABLE)
    if not table_exists(path):
        return []
    rows = (
        read_table(spark, path)
        .where(~F.col("gate_passed"))
        .orderBy("ingest_date")
        .select(*ROW_FIELDS)
        .collect()
    )
    return [GateOutcome.from_row(r.asDict()) for r in rows]


# --- `lakehouse status` ----------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "?"


def _dates(days: Iterable[date]) -> str:
    days = sorted(days)
    if not days:
        return "no dates"
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0]}..{days[-1]} ({len(days)})"


def _gate_line(gate: GateOutcome) -> str:
    reasons = f"; top reasons: {gate.top_reasons}" if gate.top_reasons else ""
    return (
        f"{gate.ingest_date}: {gate.failed_share:.1%} of {gate.records} records failed "
        f"rules 1-8{reasons}"
    )


def format_status(runs: list[RunRecord], held_back: list[GateOutcome]) -> str:
    """The text of `lakehouse status`: the last runs, then the dates still held back."""
    lines = []
    if runs:
        lines.append(f"Last {len(runs)} run(s), newest first:")
        for run in runs:
            seconds = (
                f"{(run.ended_at - run.started_at).total_seconds():.0f}s"
                if run.ended_at and run.started_at
                else "?"
            )
            lines.append(
                f"  {_when(run.started_at)}  {run.launcher:<11} {run.status or '?':<12} "
                f"{seconds:>6}  {_dates(run.ingest_dates)}  run {run.run_id}"
            )
            steps = ", ".join(
                f"{s.name} {s.seconds or 0:.0f}s"
                + (f" {s.rows_written} rows" if s.rows_written is not None else "")
                + ("" if s.status == "succeeded" else f" {s.status.upper()}")
                for s in run.steps
            )
            if steps:
                lines.append(f"      steps: {steps}")
            for gate in run.held_back:
                lines.append(f"      held back {_gate_line(gate)}")
            for check in run.failed_checks:
                lines.append(f"      check {check.target}:{check.name} FAILED: {check.description}")
            if run.error:
                lines.append(f"      error: {run.error.splitlines()[0]}")
    else:
        lines.append("No runs recorded yet (_internal/runs is empty or missing).")
    if held_back:
        lines.append("Ingest dates held back by their latest gate:")
        lines.extend(f"  {_gate_line(g)}" for g in held_back)
    else:
        lines.append("No ingest date is held back.")
    return "\n".join(lines)


def status_report(spark: SparkSession, root: str, limit: int = 10) -> str:
    """`lakehouse status --lakehouse ROOT`: the last `limit` runs and the held-back dates."""
    return format_status(recent_runs(spark, root, limit), held_back_dates(spark, root))
