"""The run ledger `_internal/runs` (pipelines/ledger.py): one row per run, written with
Spark, read back with Spark and with delta-rs; `lakehouse status` from it and the ingest
log; and a real run of the plan recorded and alerted on."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from deltalake import DeltaTable

from orchestration.delta_rs import read_table
from pipelines.alerts import WEBHOOK_ENV
from pipelines.delta_io import table_path
from pipelines.ledger import (
    CheckRecord,
    RunRecord,
    StepRecord,
    append_run,
    finish_run,
    held_back_dates,
    recent_runs,
    status_report,
)
from schemas.tables import INGEST_LOG, INGEST_LOG_TABLE, RUNS_TABLE
from transformations.gate import GateOutcome

HELD_BACK = date(2026, 10, 22)  # the contract example's date that fails the 25% gate


def two_runs() -> tuple[RunRecord, RunRecord]:
    start = datetime(2026, 11, 2, 2, 30, 0, 123456, tzinfo=UTC)
    clean = RunRecord(
        "cli",
        [date(2026, 10, 21)],
        started_at=start,
        steps=[StepRecord("bronze", 1.5, None, 120), StepRecord("silver", 2.25, 120, 110)],
        gates=[GateOutcome(date(2026, 10, 21), 120, 10, True, "invalid_json 10")],
        checks=[CheckRecord("gx_suite", "silver/logins", True, True, None)],
    ).finish()
    clean.ended_at = start + timedelta(seconds=4)
    failed = RunRecord(
        "databricks",
        [date(2026, 10, 23), HELD_BACK],
        started_at=start + timedelta(hours=1),
        steps=[StepRecord("silver", 3.0, 260, 150), StepRecord("gold", 0.5, status="failed")],
        gates=[
            GateOutcome(HELD_BACK, 130, 52, False, "invalid_json 30, bad_timestamp 22"),
            GateOutcome(date(2026, 10, 23), 130, 0, True, ""),
        ],
        checks=[CheckRecord("reconciles_with_silver", "gold", False, True, "revenue off by 3")],
        error="gold: Py4JJavaError: disk full",
    ).finish()
    return clean, failed


def test_runs_round_trip_through_spark_and_delta_rs(spark, tmp_path) -> None:
    root = str(tmp_path / "lakehouse")
    clean, failed = two_runs()
    append_run(spark, root, clean)
    append_run(spark, root, failed)

    runs = recent_runs(spark, root, limit=10)
    assert [r.run_id for r in runs] == [failed.run_id, clean.run_id]  # newest first
    assert runs == [failed, clean]  # every field, timestamps to the microsecond
    assert failed.status == "step_failed" and clean.status == "succeeded"
    assert recent_runs(spark, root, limit=1) == [failed]

    table = DeltaTable(table_path(root, RUNS_TABLE))
    assert len(table.history()) == 2  # one append per run (the first creates the table)
    protocol = table.protocol()
    assert protocol.min_reader_version == 1
    assert not set(protocol.reader_features or []) & {"deletionVectors", "columnMapping"}
    rows = {r["run_id"]: r for r in read_table(table_path(root, RUNS_TABLE)).to_pylist()}
    row = rows[failed.run_id]
    assert row["launcher"] == "databricks"
    assert row["ingest_dates"] == [HELD_BACK, date(2026, 10, 23)]
    assert row["started_at"] == failed.started_at and row["ended_at"] == failed.ended_at
    assert row["status"] == "step_failed" and row["error"] == "gold: Py4JJavaError: disk full"
    assert row["steps"][1] == {
        "name": "gold",
        "seconds": 0.5,
        "rows_read": None,
        "rows_written": None,
        "status": "failed",
    }
    assert row["gates"][0] == {
        "ingest_date": HELD_BACK,
        "records": 130,
        "failed": 52,
        "failed_share": 0.4,
        "gate_passed": False,
        "top_reasons": "invalid_json 30, bad_timestamp 22",
    }
    assert row["checks"][0]["passed"] is False and row["checks"][0]["blocking"] is True
    assert rows[clean.run_id]["steps"][1]["rows_read"] == 120


def test_status_shows_the_last_runs_and_the_dates_still_held_back(spark, tmp_path) -> None:
    root = str(tmp_path / "lakehouse")
    empty = status_report(spark, root)
    assert "No runs recorded yet" in empty and "No ingest date is held back" in empty

    log_rows = [
        (date(2026, 10, 21), 120, 10, 10 / 120, 0.25, True, "invalid_json 10", "f1", "t"),
        (HELD_BACK, 130, 52, 0.4, 0.25, False, "invalid_json 30, bad_timestamp 22", "f2", "t"),
    ]
    spark.createDataFrame(log_rows, INGEST_LOG).write.format("delta").save(
        table_path(root, INGEST_LOG_TABLE)
    )
    held = held_back_dates(spark, root)
    assert [(g.ingest_date, g.failed_share, g.top_reasons) for g in held] == [
        (HELD_BACK, 0.4, "invalid_json 30, bad_timestamp 22")
    ]
    clean, failed = two_runs()
    append_run(spark, root, clean)
    append_run(spark, root, failed)
    text = status_report(spark, root, limit=5)
    assert text.index(failed.run_id) < text.index(clean.run_id)
    assert "check gold:reconciles_with_silver FAILED: revenue off by 3" in text
    assert "error: gold: Py4JJavaError: disk full" in text
    held_section = text.split("Ingest dates held back by their latest gate:")[1]
    assert "2026-10-22: 40.0% of 130 records failed" in held_section
    assert "2026-10-21" not in held_section


class _Hook:
    def __init__(self) -> None:
        self.texts: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.texts.append(json.loads(body)["text"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_real_run_is_recorded_and_its_held_back_date_alerted_once(
    spark, example_run, tmp_path, monkeypatch
) -> None:
    """The contract example's first run (every date, checks included; 2026-10-22 fails
    its gate), recorded into a ledger of its own (the shared lakehouse stays read-only)."""
    outcome = example_run["results"][0]
    root = str(tmp_path / "lakehouse")
    hook = _Hook()
    try:
        record = RunRecord.from_outcome(outcome, launcher="cli")
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        finish_run(spark, root, record)
    finally:
        hook.server.shutdown()
        hook.server.server_close()

    assert record.status == "gate_failed"
    assert len(hook.texts) == 1
    assert "2026-10-22" in hook.texts[0] and record.run_id in hook.texts[0]
    (row,) = read_table(table_path(root, RUNS_TABLE)).to_pylist()
    assert row["run_id"] == record.run_id and row["status"] == "gate_failed"
    assert row["ingest_dates"] == [date(2026, 10, d) for d in (20, 21, 22, 23)]
    assert [g["ingest_date"] for g in row["gates"] if not g["gate_passed"]] == [HELD_BACK]
    steps = {s["name"]: s for s in row["steps"]}
    assert {"bronze", "silver", "gold", "features"} <= set(steps)
    assert all(steps[n]["status"] == "succeeded" for n in ("bronze", "silver", "gold"))
    assert steps["bronze"]["rows_written"] > 0 and steps["silver"]["seconds"] > 0
    checks = {(c["target"], c["name"]): c for c in row["checks"]}
    assert checks, "the run's checks are recorded"
    assert not any(c["blocking"] and not c["passed"] for c in checks.values())
    assert [g.ingest_date for g in held_back_dates(spark, str(example_run["root"]))] == [HELD_BACK]
