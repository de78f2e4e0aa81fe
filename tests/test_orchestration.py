"""The Dagster job in-process on the contract example: two partitions, then a corrupted one.

One lakehouse for the module (runs cost minutes on a shared 2-core machine): the first
run materializes 2026-10-20..21 through every layer with every check; the second one
corrupts a silver row of 2026-10-23 on its way in, and gold must stop there.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter
from pyspark.sql import SparkSession

import pipelines.plan as plan
from orchestration.delta_rs import read_table
from orchestration.home import open_instance
from orchestration.keys import BRONZE, FEATURES, GOLD, QUARANTINE, SILVER
from orchestration.runner import RunOutcome, run_lakehouse
from pipelines.delta_io import table_path
from schemas.tables import GOLD_TABLES, RUNS_TABLE, SILVER_TABLES

FIRST, SECOND, CORRUPTED = date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 23)


@pytest.fixture(scope="module")
def lakehouse(spark: SparkSession, examples_dir: Path, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("orchestration")
    landing = base / "landing"
    shutil.copytree(examples_dir / "landing", landing)
    root = base / "lakehouse"
    lines: list[str] = []
    outcome = run_lakehouse(str(landing), str(root), [FIRST, SECOND], progress=lines.append)
    return {"landing": landing, "root": root, "outcome": outcome, "lines": lines}


def latest(root: Path, key: AssetKey, partition: date):
    records = (
        open_instance(str(root))
        .fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition.isoformat()]), limit=1
        )
        .records
    )
    return records[0].asset_materialization if records else None


def test_two_partitions_go_through_every_layer(lakehouse: dict) -> None:
    outcome: RunOutcome = lakehouse["outcome"]
    assert outcome.ok, (outcome.check_failures, outcome.step_failures, outcome.not_materialized)
    assert len(outcome.run_ids) == 1  # consecutive dates: one run, one Spark session
    assert sorted(outcome.gate) == ["2026-10-20", "2026-10-21"]
    assert not outcome.gate_failed_dates
    assert not outcome.blocking_failures
    root = lakehouse["root"]
    for relative in [*SILVER_TABLES.values(), *GOLD_TABLES.values()]:
        assert (Path(table_path(str(root), relative)) / "_delta_log").is_dir(), relative
    # progress: one line per asset step, one per check
    text = "\n".join(lakehouse["lines"])
    assert "bronze/events done in" in text and "gold/daily_active_users" in text
    assert "check silver/logins:gx_suite: passed" in text
    # GX Data Docs under the lakehouse folder
    assert (root / "_data_docs" / "index.html").is_file()


def ledger_row(root: Path, run_id: str) -> dict:
    rows = read_table(table_path(str(root), RUNS_TABLE)).to_pylist()
    (row,) = [r for r in rows if r["run_id"] == run_id]
    return row


def test_the_dagster_run_is_one_row_of_the_ledger(lakehouse: dict) -> None:
    (run_id,) = lakehouse["outcome"].run_ids
    row = ledger_row(lakehouse["root"], run_id)
    assert row["launcher"] == "dagster" and row["status"] == "succeeded"
    assert row["ingest_dates"] == [FIRST, SECOND]
    assert row["started_at"] < row["ended_at"]
    steps = {s["name"]: s for s in row["steps"]}
    assert {"bronze", "silver", "gold", "features"} <= set(steps)
    assert all(s["status"] == "succeeded" for s in steps.values())
    assert steps["bronze"]["rows_written"] > 0
    assert [(g["ingest_date"], g["gate_passed"]) for g in row["gates"]] == [
        (FIRST, True),
        (SECOND, True),
    ]
    checks = {(c["target"], c["name"]): c for c in row["checks"]}
    for key in [
        ("silver/logins", "gx_suite"),
        ("quarantine/events", "batch_gate"),
        ("quarantine/events", "conservation"),
        ("gold/revenue_daily", "reconciles_with_silver"),
        ("features/user_features", "gx_suite"),
    ]:
        assert checks[key]["passed"], key


def test_materializations_record_counts_reasons_and_dates(lakehouse: dict) -> None:
    root = lakehouse["root"]
    for day in (FIRST, SECOND):
        bronze = latest(root, BRONZE, day).metadata
        assert bronze["rows_by_ingest_date"].value[day.isoformat()] > 0
        assert day.isoformat() in bronze["files_fingerprints"].value
        quarantine = latest(root, QUARANTINE, day).metadata
        assert quarantine["by_reason"].value  # the example has rejects on both days
        assert quarantine["gate"].value[day.isoformat()]["gate_passed"] is True
        silver = latest(root, SILVER["api_requests"], day).metadata
        assert silver["dagster/row_count"].value > 0
        assert silver["changed_event_dates"].value
        gold = latest(root, GOLD["daily_active_users"], day).metadata
        assert gold["dagster/row_count"].value > 0
        assert latest(root, FEATURES, day) is not None
    assert latest(root, BRONZE, date(2026, 10, 22)) is None  # not asked for


def test_a_corrupted_silver_row_blocks_gold(
    lakehouse: dict, spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(lakehouse["root"])
    real = plan.write_silver  # what the plan's silver step (and so the asset) calls

    def write_then_corrupt(session, root_, fingerprints, bronze, dates, threshold):
        result = real(session, root_, fingerprints, bronze, dates, threshold)
        path = table_path(root_, SILVER_TABLES["api_requests"])
        session.sql(
            f"UPDATE delta.`{path}` SET status_code = 999 WHERE ingest_date = DATE'{CORRUPTED}'"
        )
        return result

    monkeypatch.setattr(plan, "write_silver", write_then_corrupt)
    lines: list[str] = []
    outcome = run_lakehouse(str(lakehouse["landing"]), root, [CORRUPTED], progress=lines.append)

    assert not outcome.ok
    failed = {f.target: f for f in outcome.blocking_failures}
    assert "silver/api_requests:gx_suite" in failed, outcome.check_failures
    assert "status_code" in failed["silver/api_requests:gx_suite"].description
    assert any("gold/" in label for label in outcome.not_materialized)
    for key in GOLD.values():
        assert latest(lakehouse["root"], key, CORRUPTED) is None, key
        assert latest(lakehouse["root"], key, SECOND) is not None, key  # earlier ones stay
    # silver itself was written (the check runs after it), quarantine and bronze too
    assert latest(lakehouse["root"], SILVER["api_requests"], CORRUPTED) is not None
    assert any(line.startswith("  gold/") and "not run" in line for line in lines)
    (run_id,) = outcome.run_ids
    row = ledger_row(lakehouse["root"], run_id)
    assert row["status"] == "check_failed" and row["launcher"] == "dagster"
    failed_checks = [c for c in row["checks"] if not c["passed"]]
    assert ("silver/api_requests", True) in [(c["target"], c["blocking"]) for c in failed_checks]


def test_cli_exit_code_follows_the_gate_and_the_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path, spark
) -> None:
    """`lakehouse run` prints the §4 message for a gated date and exits 1; 0 when all pass."""
    import pipelines.plan as plan
    from entrypoints import cli
    from pipelines.silver import SilverResult
    from transformations.gate import GateOutcome

    ok = GateOutcome(date(2026, 10, 21), 405, 15, True, "invalid_payload 6")
    held = GateOutcome(date(2026, 10, 22), 400, 124, False, "malformed_json 60")

    def outcome(*gates: GateOutcome) -> plan.PlanOutcome:
        result = plan.PlanOutcome("r", "cli", [g.ingest_date for g in gates], datetime.now(UTC))
        result.silver = SilverResult({g.ingest_date: g for g in gates}, set(), {}, 0)
        return result

    outcomes = iter([outcome(ok, held), outcome(ok)])
    monkeypatch.setattr(plan, "run_plan", lambda *a, **k: next(outcomes))
    for day in ("2026-10-21", "2026-10-22"):
        (tmp_path / "landing" / f"ingest_date={day}").mkdir(parents=True)
    args = ["run", "--landing", str(tmp_path / "landing"), "--lakehouse", str(tmp_path / "lh")]

    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    assert "2026-10-22: 400 records, 124 quarantined by rules 1-8 (31.0%) - GATE FAILED" in out
    assert "gate failed for ingest date 2026-10-22" in err and "malformed_json 60" in err
    assert cli.main(args) == 0
