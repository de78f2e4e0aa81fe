"""Rules 1-8 of the contract (§4), one case per edge, through the real Spark validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from schemas.tables import BRONZE_EVENTS
from transformations.validation import validate_events

INGEST = date(2026, 10, 20)


def event(event_type: str = "api.request", **overrides: object) -> dict:
    payloads = {
        "api.request": {
            "method": "GET",
            "route": "/v1/projects",
            "api_version": "v1",
            "status_code": 200,
            "latency_ms": 12.5,
            "tier": "pro",
        },
        "ai.completion": {
            "model": "gpt-4o",
            "feature": "assistant",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "latency_ms": 800,
            "cost_usd": 0.01,
            "status": "ok",
        },
        "user.signup": {"plan": "pro", "country": "DE", "email": " Ana@Example.com "},
        "user.login": {"auth_method": "sso", "device": "web", "ip": "10.0.0.1"},
        "project.created": {"project_id": "p-1"},
        "billing.invoice_paid": {"invoice_id": "inv-1", "amount_cents": 900, "currency": "EUR"},
    }
    record = {
        "event_id": "e-1",
        "event_type": event_type,
        "event_version": 1,
        "occurred_at": "2026-10-20T12:00:00Z",
        "producer": "test",
        "tenant_id": "t-1",
        "user_id": "u-1",
        "payload": payloads[event_type],
    }
    for key, value in overrides.items():
        if key.startswith("payload__"):
            field = key.removeprefix("payload__")
            if value is _DROP:
                record["payload"].pop(field, None)
            else:
                record["payload"][field] = value
        elif value is _DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record


_DROP = object()


def line(**overrides: object) -> str:
    event_type = overrides.pop("event_type", "api.request")
    return json.dumps(event(event_type, **overrides))


def validate_lines(spark, lines: list[str], ingest_date: date = INGEST):
    rows = [
        (ingest_date, "ingest_date=x/f.jsonl", i + 1, raw, datetime.now(UTC))
        for i, raw in enumerate(lines)
    ]
    return validate_events(spark.createDataFrame(rows, BRONZE_EVENTS)).orderBy("line_number")


CASES = [
    # (description, raw line, expected reason or None)
    ("valid v1", line(), None),
    (
        "valid v2 uses duration_ms",
        line(event_version=2, payload__latency_ms=_DROP, payload__duration_ms=3),
        None,
    ),
    ("v2 with latency_ms only", line(event_version=2), "invalid_payload"),
    ("version absent means 1", line(event_version=_DROP), None),
    ("version null means 1", line(event_version=None), None),
    ("not json", "not json", "malformed_json"),
    ("json array", "[1, 2]", "malformed_json"),
    ("json string", '"text"', "malformed_json"),
    (
        "NaN is not JSON",
        line().replace('"latency_ms": 12.5', '"latency_ms": NaN'),
        "malformed_json",
    ),
    ("truncated", line()[:-5], "malformed_json"),
    ("trailing garbage", line() + " x", "malformed_json"),
    ("event_id absent", line(event_id=_DROP), "missing_event_id"),
    ("event_id null", line(event_id=None), "missing_event_id"),
    ("event_id number", line(event_id=42), "missing_event_id"),
    ("event_id whitespace", line(event_id=" \t "), "missing_event_id"),
    (
        "event_type absent",
        line(event_type="api.request", **{}).replace('"event_type": "api.request", ', ""),
        "unknown_event_type",
    ),
    ("event_type other case", line().replace("api.request", "API.REQUEST"), "unknown_event_type"),
    ("version 3", line(event_version=3), "unsupported_version"),
    ("version 2 for login", line(event_type="user.login", event_version=2), "unsupported_version"),
    ("version string", line(event_version="1"), "unsupported_version"),
    ("version float", line(event_version=1.0), "unsupported_version"),
    ("version boolean", line(event_version=True), "unsupported_version"),
    ("timestamp absent", line(occurred_at=_DROP), "invalid_timestamp"),
    ("timestamp number", line(occurred_at=1700000000), "invalid_timestamp"),
    ("no offset", line(occurred_at="2026-10-20T12:00:00"), "invalid_timestamp"),
    ("space not T", line(occurred_at="2026-10-20 12:00:00Z"), "invalid_timestamp"),
    ("impossible date", line(occurred_at="2026-02-30T12:00:00Z"), "invalid_timestamp"),
    ("not a leap year", line(occurred_at="2025-02-29T12:00:00Z"), "invalid_timestamp"),
    ("hour 24", line(occurred_at="2026-10-20T24:00:00Z"), "invalid_timestamp"),
    (
        "seven fraction digits",
        line(occurred_at="2026-10-20T12:00:00.1234567Z"),
        "invalid_timestamp",
    ),
    ("offset hour 24", line(occurred_at="2026-10-20T12:00:00+24:00"), "invalid_timestamp"),
    ("offset minute 60", line(occurred_at="2026-10-20T12:00:00+01:60"), "invalid_timestamp"),
    ("before 2020", line(occurred_at="2019-12-31T23:59:59Z"), "invalid_timestamp"),
    (
        "before 2020 after offset",
        line(occurred_at="2020-01-01T03:00:00+05:30"),
        "invalid_timestamp",
    ),
    ("2020 exactly", line(occurred_at="2020-01-01T00:00:00Z"), None),
    ("plus offset", line(occurred_at="2026-10-20T12:00:00+05:30"), None),
    ("compact offset", line(occurred_at="2026-10-20T12:00:00-0500"), None),
    ("fraction 6", line(occurred_at="2026-10-20T12:00:00.123456Z"), None),
    ("last microsecond of day", line(occurred_at="2026-10-20T23:59:59.999999Z"), None),
    ("future boundary", line(occurred_at="2026-10-21T00:00:00Z"), "future_timestamp"),
    ("future by offset", line(occurred_at="2026-10-20T23:30:00-0500"), "future_timestamp"),
    ("offset crosses back", line(occurred_at="2026-10-21T02:00:00+05:30"), None),
    ("tenant absent", line(tenant_id=_DROP), "missing_tenant_id"),
    ("tenant empty", line(tenant_id=""), "missing_tenant_id"),
    ("tenant number", line(tenant_id=7), "missing_tenant_id"),
    ("user optional for api", line(user_id=_DROP), None),
    ("user null for api", line(user_id=None), None),
    ("user blank", line(user_id="  "), "invalid_payload"),
    ("user number", line(user_id=5), "invalid_payload"),
    ("user required for login", line(event_type="user.login", user_id=_DROP), "invalid_payload"),
    ("user null for ai", line(event_type="ai.completion", user_id=None), "invalid_payload"),
    ("payload array", line(payload=[1]), "invalid_payload"),
    ("payload absent", line(payload=_DROP), "invalid_payload"),
    ("status as string", line(payload__status_code="200"), "invalid_payload"),
    ("status float", line(payload__status_code=200.5), "invalid_payload"),
    ("status 600", line(payload__status_code=600), "invalid_payload"),
    ("status 100", line(payload__status_code=100), None),
    ("latency negative", line(payload__latency_ms=-1), "invalid_payload"),
    ("latency integer", line(payload__latency_ms=3), None),
    ("method lower", line(payload__method="get"), "invalid_payload"),
    ("route blank", line(payload__route=" "), "invalid_payload"),
    ("throttled string", line(payload__throttled="true"), "invalid_payload"),
    ("throttled null", line(payload__throttled=None), None),
    ("extra fields", line(extra={"x": 1}, payload__unknown=[1, 2]), None),
    ("region on v1 ignored", line(payload__region=5), None),
    (
        "region number v2",
        line(event_version=2, payload__latency_ms=_DROP, payload__duration_ms=1, payload__region=5),
        "invalid_payload",
    ),
    (
        "tokens too big",
        line(event_type="ai.completion", payload__prompt_tokens=2**63),
        "invalid_payload",
    ),
    ("tokens max", line(event_type="ai.completion", payload__prompt_tokens=2**63 - 1), None),
    ("model number", line(event_type="ai.completion", payload__model=42), "invalid_payload"),
    ("cost string", line(event_type="ai.completion", payload__cost_usd="0.1"), "invalid_payload"),
    ("status unknown", line(event_type="ai.completion", payload__status="done"), "invalid_payload"),
    ("country lower", line(event_type="user.signup", payload__country="de"), "invalid_payload"),
    ("email without at", line(event_type="user.signup", payload__email="x"), "invalid_payload"),
    ("channel number", line(event_type="user.signup", payload__channel=1), "invalid_payload"),
    ("device unknown", line(event_type="user.login", payload__device="tv"), "invalid_payload"),
    ("ip number", line(event_type="user.login", payload__ip=1), "invalid_payload"),
    (
        "project blank",
        line(event_type="project.created", payload__project_id=""),
        "invalid_payload",
    ),
    (
        "amount zero",
        line(event_type="billing.invoice_paid", payload__amount_cents=0),
        "invalid_payload",
    ),
    (
        "amount float",
        line(event_type="billing.invoice_paid", payload__amount_cents=9.5),
        "invalid_payload",
    ),
    (
        "currency unknown",
        line(event_type="billing.invoice_paid", payload__currency="JPY"),
        "invalid_payload",
    ),
    ("invoice without user", line(event_type="billing.invoice_paid", user_id=_DROP), None),
    ("first failing rule wins", line(event_id=_DROP, tenant_id=_DROP), "missing_event_id"),
]


@pytest.fixture(scope="module")
def results(spark):
    rows = validate_lines(spark, [raw for _, raw, _ in CASES]).collect()
    return {CASES[row["line_number"] - 1][0]: row for row in rows}


@pytest.mark.parametrize(("name", "expected"), [(c[0], c[2]) for c in CASES])
def test_reason(results, name, expected):
    row = results[name]
    assert row["reason"] == expected, row["detail"]
    assert (row["detail"] is None) == (expected is None)


def test_timestamps_convert_to_utc(results):
    assert results["plus offset"]["occurred_at"] == datetime(2026, 10, 20, 6, 30)
    assert results["compact offset"]["occurred_at"] == datetime(2026, 10, 20, 17, 0)
    assert results["offset crosses back"]["occurred_at"] == datetime(2026, 10, 20, 20, 30)
    assert results["offset crosses back"]["event_date"] == date(2026, 10, 20)
    assert results["fraction 6"]["occurred_at"] == datetime(2026, 10, 20, 12, 0, 0, 123456)


def test_converted_fields(results, spark):
    v2 = results["valid v2 uses duration_ms"]
    assert (v2["event_version"], v2["p_latency_ms"], v2["p_region"]) == (2, 3.0, None)
    assert results["valid v1"]["p_throttled"] is False
    assert results["region on v1 ignored"]["p_region"] is None
    assert results["version absent means 1"]["event_version"] == 1
    import hashlib

    signup = validate_lines(spark, [line(event_type="user.signup")]).first()
    assert signup["reason"] is None
    assert signup["p_email_sha256"] == hashlib.sha256(b"ana@example.com").hexdigest()
    project = validate_lines(spark, [line(event_type="project.created")]).first()
    assert project["p_template"] == "blank"
    assert "p_email" not in signup.asDict() and "p_ip" not in signup.asDict()
