"""`lakehouse run`: the Dagster job executed in this process, with progress per asset.

The same assets and checks as a scheduled, sensor-started or UI run; only the launch
differs. Consecutive dates go in one run (a single-run backfill: one Spark session, one
commit per table); a gap in the dates starts another run in the same process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster import AssetCheckSeverity, DagsterEventType, EventLogEntry, ExecuteInProcessResult

from orchestration.definitions import build_definitions
from orchestration.home import open_instance
from orchestration.jobs import JOB_NAME
from orchestration.partitions import contiguous_ranges, covering, range_tags
from orchestration.resources import LakehouseResource, env_or
from pipelines.plan import resolve_dates
from pipelines.spark import get_spark
from pipelines.storage_checks import ensure_writable

Progress = Callable[[str], None]


@dataclass
class CheckFailure:
    target: str  # "silver/logins:gx_suite"
    severity: str  # "ERROR" | "WARN"
    description: str


@dataclass
class RunOutcome:
    dates: list[date]
    run_ids: list[str] = field(default_factory=list)
    # ingest date -> the batch_gate check's record of it (records, failed_share, ...)
    gate: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_failures: list[CheckFailure] = field(default_factory=list)
    step_failures: list[str] = field(default_factory=list)
    not_materialized: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def gate_failed_dates(self) -> list[str]:
        return sorted(d for d, o in self.gate.items() if not o.get("gate_passed", True))

    @property
    def blocking_failures(self) -> list[CheckFailure]:
        return [f for f in self.check_failures if f.severity == "ERROR"]

    @property
    def ok(self) -> bool:
        return not (
            self.gate_failed_dates
            or self.blocking_failures
            or self.step_failures
            or self.not_materialized
        )


def run_lakehouse(
    landing: str,
    root: str,
    dates: list[date] | None = None,
    threshold: float = 0.25,
    progress: Progress = print,
    verbose: bool = False,
) -> RunOutcome:
    """Run the job for these ingest dates (default: all in the landing zone)."""
    # The user's mistakes first, as one-line errors, before a run is recorded.
    dates = resolve_dates(landing, dates)
    ensure_writable(root)
    get_spark()  # a missing Java fails here; the run's Spark resource reuses this session
    instance = open_instance(root)
    lakehouse = LakehouseResource(
        landing=landing,
        root=root,
        gate_threshold=threshold,
        data_docs=env_or("LAKEHOUSE_DATA_DOCS", ""),
    )
    defs = build_definitions(covering(dates), resources={"lakehouse": lakehouse})
    job = defs.resolve_job_def(JOB_NAME)
    # step (op) name -> the assets it materializes; check-only steps have none
    labels = {
        a.node_def.name: ", ".join(sorted(k.to_user_string() for k in a.keys))
        for a in defs.resolve_asset_graph().assets_defs
        if a.is_executable and a.keys
    }

    outcome = RunOutcome(dates)
    started = time.perf_counter()
    for first, last in contiguous_ranges(dates):
        span = first.isoformat() if first == last else f"{first}..{last}"
        progress(f"run {span}: bronze -> silver -> gold, features -> adx, with checks")
        run_id = str(uuid.uuid4())  # known before the run, to listen to its events
        instance.add_event_listener(run_id, _Printer(progress, labels))
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags=range_tags(first, last),
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": _log_level(verbose)}}}},
        )
        outcome.run_ids.append(run_id)
        _collect(outcome, result, labels)
        for node, label in labels.items():
            if result.is_node_untouched(node):
                progress(f"  {label}: not run (an upstream step or blocking check failed)")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _log_level(verbose: bool) -> str:
    return "INFO" if verbose else "CRITICAL"  # progress lines replace Dagster's log


def _collect(outcome: RunOutcome, result: ExecuteInProcessResult, labels: dict[str, str]) -> None:
    for evaluation in result.get_asset_check_evaluations():
        target = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.check_name == "batch_gate":
            dates = evaluation.metadata.get("dates")
            outcome.gate.update(getattr(dates, "value", None) or {})
        if not evaluation.passed:
            outcome.check_failures.append(
                CheckFailure(target, evaluation.severity.value, evaluation.description or "")
            )
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # reported with the check itself
        outcome.step_failures.append(f"{event.step_key}: {_root_message(error)}")
    if not result.success and not outcome.step_failures and not outcome.check_failures:
        # the run failed outside any step, e.g. a resource could not start
        for event in result.all_events:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                outcome.step_failures.append(f"run: {_root_message(error)}")
    for node, label in labels.items():
        if not result.is_node_success(node):
            outcome.not_materialized.append(label)


def _root_message(error: Any) -> str:
    """The message of the innermost cause: the pipeline's error, not Dagster's wrapper."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name


class _Printer:
    """Turns the run's events into one line per asset step and per check."""

    def __init__(self, progress: Progress, labels: dict[str, str]) -> None:
        self.say = progress
        self.labels = labels
        self.started: dict[str, float] = {}

    def __call__(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        step = event.step_key or ""
        label = self.labels.get(step)
        kind = event.event_type
        if kind == DagsterEventType.STEP_START and label:
            self.started[step] = time.perf_counter()
            self.say(f"  {label} ...")
        elif kind == DagsterEventType.STEP_SUCCESS and label:
            seconds = time.perf_counter() - self.started.get(step, time.perf_counter())
            self.say(f"  {label} done in {seconds:.1f}s")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            target = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                state = "passed"
            elif evaluation.severity == AssetCheckSeverity.ERROR:
                state = "FAILED"
            else:
                state = "warning"
            detail = f" - {evaluation.description}" if not evaluation.passed else ""
            self.say(f"    check {target}: {state}{detail}")
        elif kind == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            if error and error.cls_name == "DagsterAssetCheckFailedError":
                return
            self.say(f"  {label or step} FAILED: {_root_message(error)}")
