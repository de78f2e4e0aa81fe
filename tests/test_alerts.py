"""Alerts (pipelines/alerts.py) against a real HTTP receiver started by the test: one
message per run that needs a human, none for a clean run, retries on 5xx, never raises."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.alerts import WEBHOOK_ENV, alert_text, send_alert
from pipelines.ledger import CheckRecord, RunRecord, StepRecord
from transformations.gate import GateOutcome


class Receiver:
    """A local webhook: answers with the scripted statuses (then 200), records each POST."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(
                    {"path": self.path, "type": self.headers["Content-Type"], "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"busy")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        return [json.loads(p["body"])["text"] for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


@pytest.fixture(autouse=True)
def no_webhook_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)


def held_back_run() -> RunRecord:
    record = RunRecord(
        "databricks",
        [date(2026, 10, 21), date(2026, 10, 22)],
        steps=[StepRecord("bronze", 3.0, None, 250), StepRecord("silver", 5.0, 250, 180)],
        gates=[
            GateOutcome(date(2026, 10, 21), 120, 6, True, "missing_required_field 6"),
            GateOutcome(
                date(2026, 10, 22), 130, 52, False, "invalid_json 30, unknown_event_type 22"
            ),
        ],
        checks=[CheckRecord("batch_gate", "silver", False, False, "2026-10-22 held back")],
    )
    return record.finish()


def clean_run() -> RunRecord:
    return RunRecord(
        "cli",
        [date(2026, 10, 21)],
        steps=[StepRecord("bronze", 1.0, None, 10)],
        gates=[GateOutcome(date(2026, 10, 21), 10, 0, True, "")],
        checks=[CheckRecord("gx_suite", "silver/logins", True, True)],
    ).finish()


def test_a_held_back_date_posts_one_message_naming_it(receiver: Receiver, monkeypatch) -> None:
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)  # read when sending, not at import
    record = held_back_run()
    assert record.status == "gate_failed"
    assert send_alert(record) is True
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["path"] == "/services/T0/B0/secret"
    assert post["type"] == "application/json"
    assert set(json.loads(post["body"])) == {"text"}  # Slack's and Teams' shape
    (text,) = receiver.texts()
    assert "2026-10-22" in text and "40.0%" in text
    assert "invalid_json 30, unknown_event_type 22" in text
    assert record.run_id in text and "databricks" in text
    # The date that passed is not reported as held back.
    assert "Ingest date 2026-10-21 HELD BACK" not in text


def test_a_clean_run_posts_nothing(receiver: Receiver) -> None:
    record = clean_run()
    assert alert_text(record) is None
    assert send_alert(record, url=receiver.url) is False
    assert receiver.posts == []


def test_failed_checks_and_steps_are_named() -> None:
    record = RunRecord(
        "dagster",
        [date(2026, 10, 23)],
        steps=[StepRecord("silver", 2.0), StepRecord("gold", 1.0, status="failed")],
        checks=[
            CheckRecord("gx_suite", "silver/logins", False, True, "2 unexpected user_id nulls"),
            CheckRecord("gx_suite", "gold/signups_daily", False, False, "a warning only"),
        ],
        error="gold: Py4JJavaError: boom",
    ).finish()
    assert record.status == "step_failed"
    text = alert_text(record)
    assert text is not None
    assert "silver/logins:gx_suite FAILED" in text and "2 unexpected user_id nulls" in text
    assert "Step gold FAILED" in text and "boom" in text
    assert "gold/signups_daily" not in text  # a failed non-blocking check is no alert


def test_a_receiver_that_fails_twice_gets_the_message_on_the_third_try() -> None:
    flaky = Receiver([500, 503])
    try:
        assert send_alert(held_back_run(), url=flaky.url, retries=3, backoff=0.01) is True
        assert len(flaky.posts) == 3
        assert len(set(flaky.texts())) == 1  # the same message each time
    finally:
        flaky.close()


def test_an_unreachable_webhook_returns_false_without_raising() -> None:
    closed = Receiver([])
    url = closed.url
    closed.close()  # nothing listens on that port any more
    assert send_alert(held_back_run(), url=url, timeout=1, retries=2, backoff=0.01) is False


def test_a_refusing_webhook_is_not_retried() -> None:
    refusing = Receiver([404, 404])
    try:
        assert send_alert(held_back_run(), url=refusing.url, backoff=0.01) is False
        assert len(refusing.posts) == 1
    finally:
        refusing.close()


def test_no_webhook_configured_sends_nothing_and_a_bad_url_is_no_error() -> None:
    assert send_alert(held_back_run()) is False
    assert send_alert(held_back_run(), url="file:///etc/passwd") is False
