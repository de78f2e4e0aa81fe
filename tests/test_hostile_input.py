"""Hostile input never crashes the pipeline, and every line still ends in exactly one table."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakehouse_testing import run_pipeline

from schemas.events import REASON_CODES
from schemas.tables import BRONZE_EVENTS, BRONZE_TABLE, QUARANTINE_TABLE, SILVER_TABLES
from transformations.validation import validate_events

DAY = date(2026, 10, 20)
VALID = {
    "event_id": "e-1",
    "event_type": "user.login",
    "occurred_at": "2026-10-20T10:00:00+01:00",
    "tenant_id": "t-1",
    "user_id": "u-1",
    "payload": {"auth_method": "sso", "device": "web"},
}
# Text without line breaks or the C0/C1 separators Python and Java disagree about.
SAFE_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\n\x1c\x1d\x1e\x1f\x85\u2028\u2029\x0b\x0c",
    ),
    max_size=40,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | SAFE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SAFE_TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_event(draw) -> str:
    """A valid login with some fields replaced by random JSON values or removed."""
    record = json.loads(json.dumps(VALID))
    for key in draw(
        st.lists(st.sampled_from([*VALID, "payload.auth_method", "payload.device"]), max_size=3)
    ):
        value = draw(JSON_VALUES)
        target, _, inner = key.partition(".")
        if inner and isinstance(record.get("payload"), dict):
            record["payload"][inner] = value
        else:
            record[target] = value
    return json.dumps(record)


HOSTILE_LINES = st.one_of(
    mutated_event(),
    JSON_VALUES.map(json.dumps),
    SAFE_TEXT,
    mutated_event().map(lambda s: s[: len(s) // 2]),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


def nonblank(line: str) -> bool:
    return re.fullmatch(r"\s*", line) is None


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(HOSTILE_LINES, min_size=1, max_size=60))
def test_validation_gives_every_line_one_outcome(spark, lines):
    lines = [line for line in lines if nonblank(line)]
    if not lines:
        return
    rows = [(DAY, "f", i, raw, datetime(2026, 10, 20)) for i, raw in enumerate(lines)]
    result = validate_events(spark.createDataFrame(rows, BRONZE_EVENTS)).collect()
    assert len(result) == len(lines)
    for row in result:
        assert row["reason"] is None or row["reason"] in REASON_CODES
        if row["reason"] is None:
            assert row["event_id"] and row["tenant_id"] and row["occurred_at"] and row["user_id"]


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_pipeline_survives_hostile_files(spark, tmp_path):
    landing, root = tmp_path / "landing", tmp_path / "lakehouse"
    folder = landing / f"ingest_date={DAY.isoformat()}"
    good = json.dumps(VALID).encode()
    lines = [
        good,
        b'{"event_id": "\xff\xfe bad utf-8", "x": 1}',
        b'{"event_id": "nul\x00byte"}',
        b"\x00\x00\x00",
        b'{"event_id": "big", "payload": "' + b"x" * 10_000_000 + b'"}',
        b"[" * 5000 + b"]" * 5000,
        json.dumps({**VALID, "event_id": "e-2", "payload": {"auth_method": 1}}).encode(),
    ]
    write(folder / "hostile.jsonl", b"\n".join(lines) + b"\n")
    write(folder / "empty.jsonl", b"")
    write(folder / "empty.jsonl.gz", gzip.compress(b""))
    truncated_day = landing / "ingest_date=2026-10-21"
    full = gzip.compress(b"\n".join([good] * 5000))
    write(truncated_day / "cut.jsonl.gz", full[: len(full) // 2])

    result = run_pipeline(spark, str(landing), str(root), threshold=1.0)

    assert list(result.unreadable) == [date(2026, 10, 21)]
    assert "cut.jsonl.gz" in result.unreadable[date(2026, 10, 21)][0]
    assert not result.ok
    bronze = spark.read.format("delta").load(f"{root}/{BRONZE_TABLE}")
    assert bronze.where(f"ingest_date = '{DAY}'").count() == len(lines)
    assert bronze.where("ingest_date = '2026-10-21'").count() == 0  # nothing half-read
    quarantined = spark.read.format("delta").load(f"{root}/{QUARANTINE_TABLE}").count()
    kept = sum(
        spark.read.format("delta").load(f"{root}/{t}").count()
        for t in SILVER_TABLES.values()
        if (root / t).exists()
    )
    assert quarantined + kept == len(lines)
    assert kept == 1
