"""Tell a human when a run needs one: a held-back ingest date, a failed blocking check or
a failed step posts ONE message per run to a chat webhook.

The pipeline runs every night and nobody watches its exit code. `send_alert` posts
`{"text": ...}`, the body Slack's and Microsoft Teams' incoming webhooks both accept, to
`LAKEHOUSE_ALERT_WEBHOOK_URL` (a secret: the URL is the credential, so it is read from
the environment when sending, by `pipelines.config.settings()`, and never logged). It
uses only the standard library, with a timeout and retries with backoff on connection
errors, 5xx and 429, and it never raises: a webhook that is down is logged, it never
fails the run it reports on.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlsplit

from pipelines.config import settings

log = logging.getLogger("lakehouse")


class RunRecord(Protocol):
    """What an alert reads of a run: `pipelines.ledger.RunRecord` (which imports this
    module to send alerts, so it is described here rather than imported)."""

    run_id: str
    launcher: str
    status: str | None
    ingest_dates: list[date]
    error: str | None

    @property
    def held_back(self) -> Sequence[Any]: ...

    @property
    def failed_checks(self) -> Sequence[Any]: ...

    @property
    def failed_steps(self) -> Sequence[Any]: ...


WEBHOOK_ENV = "LAKEHOUSE_ALERT_WEBHOOK_URL"
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_TEXT_CHARS = 3500  # well under Slack's and Teams' message limits


def alert_text(record: RunRecord) -> str | None:
    """The message for a run, or None when it needs no one (nothing held back or failed)."""
    held_back, checks, steps = record.held_back, record.failed_checks, record.failed_steps
    if not (held_back or checks or steps or record.error):
        return None
    dates = ", ".join(d.isoformat() for d in sorted(record.ingest_dates)) or "no dates"
    lines = [
        f"Lakehouse run {record.run_id} ({record.launcher}) ended {record.status}: "
        f"ingest dates {dates}."
    ]
    for gate in held_back:
        reasons = gate.top_reasons or "none recorded"
        lines.append(
            f"- Ingest date {gate.ingest_date} HELD BACK by the batch gate: "
            f"{gate.failed_share:.1%} of {gate.records} records failed rules 1-8 "
            f"({gate.failed}); top reasons: {reasons}."
        )
    for check in checks:
        about = f": {check.description}" if check.description else ""
        lines.append(f"- Check {check.target}:{check.name} FAILED (blocking){about}")
    for step in steps:
        lines.append(f"- Step {step.name} FAILED.")
    if record.error:
        lines.append(f"- Error: {record.error.splitlines()[0]}")
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def send_alert(
    record: RunRecord,
    url: str | None = None,
    timeout: float = 5,
    retries: int = 3,
    backoff: float = 0.5,
) -> bool:
    """POST the run's alert (if it needs one) to `url` (default LAKEHOUSE_ALERT_WEBHOOK_URL).

    True when a message was delivered; False when none was needed, no webhook is set, or
    it failed after `retries` more attempts (logged). Never raises.
    """
    try:
        text = alert_text(record)
        if text is None:
            return False
        url = url if url is not None else settings().alerts.webhook_url.get_secret_value()
        if not url:
            log.info("run %s needs attention; no %s set to alert", record.run_id, WEBHOOK_ENV)
            return False
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            log.warning("%s must be an http(s) URL; no alert sent", WEBHOOK_ENV)
            return False
        return _post(url, {"text": text}, timeout, retries, backoff, record.run_id)
    except Exception as error:  # an alert must never fail the run it reports on
        log.warning("could not send the alert for run %s: %s", record.run_id, error)
        return False


def _post(url: str, body: dict, timeout: float, retries: int, backoff: float, run_id: str) -> bool:
    data = json.dumps(body).encode()
    where = urlsplit(url).hostname  # never the full URL: its path is the secret
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        wait = backoff * 2**attempt
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            log.info("alert for run %s sent to %s", run_id, where)
            return True
        except urllib.error.HTTPError as error:
            if error.code != 429 and error.code < 500:
                log.warning("alert webhook at %s refused the message: HTTP %s", where, error.code)
                return False
            problem = f"HTTP {error.code}"
            retry_after = error.headers.get("Retry-After") if error.headers else None
            if retry_after and retry_after.strip().isdigit():
                wait = min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
        except (urllib.error.URLError, OSError) as error:  # refused, DNS, timeout, reset
            problem = str(getattr(error, "reason", error))
        if attempt < retries:
            log.info("alert webhook at %s: %s; retrying in %.1fs", where, problem, wait)
            time.sleep(wait)
    log.warning(
        "alert for run %s not delivered to %s after %d attempt(s): %s",
        run_id,
        where,
        retries + 1,
        problem,
    )
    return False
