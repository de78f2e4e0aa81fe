"""The run plan: every step followed by its checks, and a blocking failure stops what
depends on it — for `lakehouse run`, erasure and the Databricks tasks alike."""

from __future__ import annotations

import shutil
import threading
from datetime import date

import pytest

import pipelines.plan as plan
from pipelines.changes import Changes
from pipelines.checks import CheckContext, CheckResult
from pipelines.delta_io import table_path, table_version
from schemas.tables import GOLD_TABLES, SILVER_TABLES

SUITES = [
    "bronze/events:gx_suite",
    "quarantine/events:batch_gate",
    "quarantine/events:gx_suite",
    *[f"{path}:gx_suite" for path in SILVER_TABLES.values()],
    "quarantine/events:conservation",
    *[f"{path}:gx_suite" for path in GOLD_TABLES.values()],
    *[f"{path}:reconciles_with_silver" for path in GOLD_TABLES.values()],
    "features/user_features:gx_suite",
]


def test_the_example_passes_every_check_but_the_gate_of_its_bad_date(example_run):
    first, second = example_run["results"]
    assert [c.label for c in first.checks] == SUITES  # plan order
    failed = [c for c in first.checks if not c.passed]
    assert [c.label for c in failed] == ["quarantine/events:batch_gate"]
    assert "2026-10-22" in failed[0].description and not failed[0].blocking
    assert first.status == "gate_failed" and first.failed_dates == [date(2026, 10, 22)]
    assert all(c.passed for c in second.checks), [c for c in second.checks if not c.passed]
    assert [s.status for s in first.steps.values()] == ["succeeded"] * len(plan.STEPS)


def test_a_blocking_check_failure_skips_the_steps_that_need_it(
    spark, example_run, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    landing, root = tmp_path / "landing", tmp_path / "lakehouse"
    shutil.copytree(example_run["landing"], landing)
    shutil.copytree(example_run["root"], root)
    day = date(2026, 10, 23)
    real = plan.write_silver

    def write_then_corrupt(session, root_, fingerprints, bronze, dates, threshold):
        result = real(session, root_, fingerprints, bronze, dates, threshold)
        path = table_path(root_, SILVER_TABLES["api_requests"])
        session.sql(f"UPDATE delta.`{path}` SET status_code = 999 WHERE ingest_date = '{day}'")
        return result

    monkeypatch.setattr(plan, "write_silver", write_then_corrupt)
    gold = table_path(str(root), GOLD_TABLES["api_usage_daily"])
    before = table_version(gold)
    settings = plan.RunSettings(str(landing), str(root))
    outcome = plan.run_plan(spark, settings, [day])

    assert outcome.status == "check_failed" and not outcome.ok
    (failure,) = outcome.blocking_failures
    assert failure.label == "silver/api_requests:gx_suite" and "status_code" in failure.description
    assert {n: s.status for n, s in outcome.steps.items()} == {
        "bronze": "succeeded",
        "silver": "succeeded",
        "gold": "skipped",
        "features": "skipped",
        "publish": "skipped",
    }
    assert table_version(gold) == before  # gold was not touched


def test_unknown_steps_are_a_user_error(spark, tmp_path):
    from pipelines.config import UserError

    with pytest.raises(UserError, match="unknown step"):
        plan.run_plan(spark, plan.RunSettings(str(tmp_path), str(tmp_path)), steps=["silverr"])


def test_checks_of_a_step_run_beside_a_step_that_does_not_read_it(tmp_path, monkeypatch):
    """Gold's checks overlap the features step (which reads silver only), and publish (which
    reads gold) waits for them: here they fail, so publish is skipped and features is not.
    Spark-free: the steps and checks are stand-ins that only record what ran."""
    features_started = threading.Event()
    ran: list[str] = []

    def stand_in(name: str):
        def step(run: plan.Run) -> plan.StepOutcome:
            if name == "features":
                features_started.set()
            ran.append(name)
            return plan.StepOutcome(name)

        return step

    def failing_gold_check(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
        # Run one after the other, features would only start after this returns.
        beside = features_started.wait(30)
        return [
            CheckResult("gold/revenue_daily", "gx_suite", False, True, metadata={"beside": beside})
        ]

    monkeypatch.setattr(plan, "STEP_FUNCTIONS", {n: stand_in(n) for n in plan.STEPS})
    monkeypatch.setattr(plan, "STEP_CHECKS", {n: () for n in plan.STEPS})
    monkeypatch.setitem(plan.STEP_CHECKS, "gold", (failing_gold_check,))
    settings = plan.RunSettings(str(tmp_path / "landing"), str(tmp_path / "lakehouse"))
    steps = ("gold", "features", "publish")
    outcome = plan.run_plan(None, settings, steps=steps, changes=Changes(), launcher="test")

    (failure,) = outcome.blocking_failures
    assert failure.label == "gold/revenue_daily:gx_suite" and failure.metadata["beside"]
    assert ran == ["gold", "features"]
    assert {n: s.status for n, s in outcome.steps.items()} == {
        "gold": "succeeded",
        "features": "succeeded",
        "publish": "skipped",
    }
