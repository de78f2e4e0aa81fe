"""The landing-zone generator: deterministic, well laid out, and as messy as promised.

The generated lines are checked with a small, independent implementation of the contract's
validation rules (§2–§4) written here in plain Python, so the test does not trust the
generator's own bookkeeping: it recomputes every reason code and compares.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest

import pipelines.generate as generate
from pipelines.config import UserError
from pipelines.generate import GenerateSummary, generate_landing
from pipelines.landing import list_ingest_dates, list_landing_files

RECORDS = 4_000
DAYS = 3
SEED = 7
END = date(2026, 10, 22)

# ------------------------------------------------------------------------------------------
# A reference reading of the contract, independent of the generator


@dataclass
class Line:
    ingest_date: date
    file: str
    text: str  # without the line ending
    obj: Any = None  # parsed JSON, when it parses
    reason: str | None = None  # None = valid and kept


TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(Z|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)


def parse_occurred_at(value: Any) -> datetime | None:
    """UTC instant of a §2 occurred_at string, or None if the rule rejects it."""
    if not isinstance(value, str):
        return None
    match = TIMESTAMP.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset, sign, oh, om = match.groups()
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if offset == "Z":
        return local
    if int(oh) > 23 or int(om) > 59:
        return None
    shift = timedelta(hours=int(oh), minutes=int(om))
    return local - shift if sign == "+" else local + shift


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_int(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def is_number(v: Any) -> bool:
    return type(v) in (int, float)


def non_empty(v: Any) -> bool:
    return type(v) is str and v.strip() != ""


def one_of(*values: str) -> Any:
    return lambda v: type(v) is str and v in values


def non_negative(v: Any) -> bool:
    return is_number(v) and v >= 0


def payload_ok(event_type: str, version: int, payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    required: dict[str, Any]
    optional: dict[str, Any] = {}
    if event_type == "api.request":
        required = {
            "method": one_of("GET", "POST", "PUT", "PATCH", "DELETE"),
            "route": non_empty,
            "api_version": one_of("v1", "v2"),
            "status_code": lambda v: is_int(v) and 100 <= v <= 599,
            ("duration_ms" if version == 2 else "latency_ms"): non_negative,
            "tier": one_of("free", "pro", "enterprise"),
        }
        optional = {"throttled": lambda v: type(v) is bool}
        if version == 2:
            optional["region"] = lambda v: type(v) is str
    elif event_type == "ai.completion":
        required = {
            "model": non_empty,
            "feature": one_of("assistant", "search", "graphrag", "other"),
            "prompt_tokens": lambda v: is_int(v) and v >= 0,
            "completion_tokens": lambda v: is_int(v) and v >= 0,
            "latency_ms": non_negative,
            "cost_usd": non_negative,
            "status": one_of("ok", "error", "timeout"),
        }
    elif event_type == "user.signup":
        required = {
            "plan": one_of("free", "pro", "enterprise"),
            "country": lambda v: type(v) is str and re.fullmatch("[A-Z]{2}", v) is not None,
            "email": lambda v: type(v) is str and "@" in v,
        }
        optional = {"channel": lambda v: type(v) is str}
    elif event_type == "user.login":
        required = {
            "auth_method": one_of("password", "sso", "oauth"),
            "device": one_of("web", "ios", "android"),
        }
        optional = {"ip": lambda v: type(v) is str}
    elif event_type == "project.created":
        required = {"project_id": non_empty}
        optional = {"template": lambda v: type(v) is str}
    else:
        required = {
            "invoice_id": non_empty,
            "amount_cents": lambda v: is_int(v) and v > 0,
            "currency": one_of("USD", "EUR", "GBP"),
        }
    return all(
        payload.get(k) is not None and check(payload[k]) for k, check in required.items()
    ) and all(payload.get(k) is None or check(payload[k]) for k, check in optional.items())


VERSIONS = {
    "api.request": (1, 2),
    "ai.completion": (1,),
    "user.signup": (1,),
    "user.login": (1,),
    "project.created": (1,),
    "billing.invoice_paid": (1,),
}
USER_REQUIRED = {"ai.completion", "user.signup", "user.login", "project.created"}


def rule_1_to_8(text: str, ingest_date: date) -> tuple[Any, str | None]:
    """(parsed object, first failing reason of rules 1–8 or None)."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None, "malformed_json"
    if not isinstance(obj, dict):
        return obj, "malformed_json"
    if not non_empty(obj.get("event_id")):
        return obj, "missing_event_id"
    event_type = obj.get("event_type")
    if type(event_type) is not str or event_type not in VERSIONS:
        return obj, "unknown_event_type"
    version = obj.get("event_version")
    version = 1 if version is None else version
    if not is_int(version) or version not in VERSIONS[event_type]:
        return obj, "unsupported_version"
    occurred = parse_occurred_at(obj.get("occurred_at"))
    if occurred is None or occurred < EARLIEST:
        return obj, "invalid_timestamp"
    if occurred >= datetime.combine(ingest_date + timedelta(days=1), datetime.min.time(), UTC):
        return obj, "future_timestamp"
    if not non_empty(obj.get("tenant_id")):
        return obj, "missing_tenant_id"
    user_id = obj.get("user_id")
    user_ok = (
        non_empty(user_id) if event_type in USER_REQUIRED else user_id is None or non_empty(user_id)
    )
    if not user_ok or not payload_ok(event_type, version, obj.get("payload")):
        return obj, "invalid_payload"
    return obj, None


def read_lines(landing: Path) -> list[Line]:
    """Every record line of the landing zone, classified, in ingest-date order."""
    lines: list[Line] = []
    for folder in sorted(landing.glob("ingest_date=*")):
        ingest_date = date.fromisoformat(folder.name.split("=", 1)[1])
        for path in sorted(folder.iterdir()):
            if path.name.startswith((".", "_")) or not path.name.endswith((".jsonl", ".jsonl.gz")):
                continue
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            for raw in data.decode("utf-8").split("\n"):
                text = raw.removesuffix("\r")
                if text.strip():
                    lines.append(Line(ingest_date, path.name, text))
    for line in lines:
        line.obj, line.reason = rule_1_to_8(line.text, line.ingest_date)
    _mark_duplicates(lines)
    return lines


def _mark_duplicates(lines: list[Line]) -> None:
    """Rule 9, every date passing its gate: the earliest date's copy is kept."""
    seen: set[str] = set()
    for day in sorted({line.ingest_date for line in lines}):
        today: set[str] = set()
        for line in lines:
            if line.ingest_date != day or line.reason is not None:
                continue
            event_id = line.obj["event_id"]
            if event_id in seen or event_id in today:
                line.reason = "duplicate"
            today.add(event_id)
        seen |= today


# ------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateSummary]:
    root = tmp_path_factory.mktemp("landing")
    summary = generate_landing(str(root), days=DAYS, records=RECORDS, seed=SEED, end_date=END)
    return root, summary


@pytest.fixture(scope="module")
def lines(landing: tuple[Path, GenerateSummary]) -> list[Line]:
    return read_lines(landing[0])


def all_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------------------------
# Determinism and layout


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    args = {"days": 2, "records": 1_500, "seed": 3}
    generate_landing(str(tmp_path / "a"), **args)
    generate_landing(str(tmp_path / "b"), **args)
    generate_landing(str(tmp_path / "c"), **{**args, "seed": 4})
    a, b, c = (all_bytes(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert a != c


def test_default_end_date_is_fixed(tmp_path: Path) -> None:
    summary = generate_landing(str(tmp_path), days=2, records=50)
    assert summary.dates == (date(2026, 10, 31), date(2026, 11, 1))


def test_layout_and_ignored_files(landing: tuple[Path, GenerateSummary]) -> None:
    root, summary = landing
    assert summary.dates == (date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22))
    assert list_ingest_dates(str(root)) == list(summary.dates)
    listed = []
    for day in summary.dates:
        listed += [
            Path(f.path).relative_to(root).as_posix() for f in list_landing_files(str(root), day)
        ]
        names = {p.name for p in (root / f"ingest_date={day}").iterdir()}
        assert "_SUCCESS" in names
        assert any(re.fullmatch(r"partial-\d{3}\.jsonl\.tmp", n) for n in names)
        assert any(n.startswith(".") and n.endswith(".jsonl") for n in names)
        assert any(n.endswith(".jsonl.gz") for n in names)
        assert any(n.endswith(".jsonl") and not n.startswith(".") for n in names)
    assert sorted(listed) == sorted(summary.files)
    assert len(summary.ignored_files) == 3 * DAYS
    assert all((root / name).is_file() for name in summary.ignored_files)


def test_gzip_files_decompress_and_are_stable(landing: tuple[Path, GenerateSummary]) -> None:
    root, summary = landing
    gz_files = [root / name for name in summary.files if name.endswith(".gz")]
    assert gz_files
    for path in gz_files:
        data = path.read_bytes()
        assert data[3] == 0  # no file name in the header
        assert data[4:8] == b"\0\0\0\0"  # mtime 0
        assert gzip.decompress(data).count(b"\n") > 0


def test_counts_add_up(landing: tuple[Path, GenerateSummary], lines: list[Line]) -> None:
    _, summary = landing
    assert summary.total == RECORDS == len(lines)
    assert Counter(line.ingest_date for line in lines) == summary.records
    for day in summary.dates:
        assert summary.bad[day] == sum(summary.reasons[day].values())
    assert 0.02 <= summary.total_bad / summary.total <= 0.05


# ------------------------------------------------------------------------------------------
# Content, checked with the reference rules above


def test_reasons_match_the_contract(
    landing: tuple[Path, GenerateSummary], lines: list[Line]
) -> None:
    _, summary = landing
    for day in summary.dates:
        found = Counter(line.reason for line in lines if line.ingest_date == day and line.reason)
        assert dict(found) == dict(summary.reasons[day]), day
        failing = sum(n for reason, n in found.items() if reason != "duplicate")
        assert failing / summary.records[day] < 0.25  # every date passes its gate
    kept = Counter(line.obj["event_type"] for line in lines if line.reason is None)
    assert dict(kept) == dict(summary.silver_rows)


def test_every_reason_code_is_present_on_every_date(lines: list[Line]) -> None:
    codes = {
        "malformed_json",
        "missing_event_id",
        "unknown_event_type",
        "unsupported_version",
        "invalid_timestamp",
        "future_timestamp",
        "missing_tenant_id",
        "invalid_payload",
        "duplicate",
    }
    for day in {line.ingest_date for line in lines}:
        assert codes <= {line.reason for line in lines if line.ingest_date == day}


def test_malformed_variants(lines: list[Line]) -> None:
    malformed = [line.text for line in lines if line.reason == "malformed_json"]
    assert any(text.startswith("{") and not text.endswith("}") for text in malformed)  # truncated
    assert any(re.search(r": -?(NaN|Infinity)\b", text) for text in malformed)


def test_timestamp_variants(lines: list[Line]) -> None:
    bad = [line.obj.get("occurred_at") for line in lines if line.reason == "invalid_timestamp"]
    texts = [v for v in bad if isinstance(v, str)]
    no_offset = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?")
    assert any(no_offset.fullmatch(v) for v in texts)
    assert any(TIMESTAMP.fullmatch(v) and parse_occurred_at(v) is None for v in texts)  # impossible
    assert any((t := parse_occurred_at(v)) is not None and t < EARLIEST for v in texts)

    valid = [line.obj["occurred_at"] for line in lines if line.reason is None]
    assert any(v.endswith("Z") for v in valid)
    assert any(re.search(r"[+-]\d{2}:\d{2}$", v) for v in valid)
    assert any(re.search(r"[+-]\d{4}$", v) for v in valid)
    digits = {len(m.group(1)) if (m := re.search(r"\.(\d+)", v)) else 0 for v in valid}
    assert digits == {0, 1, 2, 3, 4, 5, 6}


def test_late_and_future_events(lines: list[Line]) -> None:
    lateness = [
        (line.ingest_date - parse_occurred_at(line.obj["occurred_at"]).date()).days
        for line in lines
        if line.reason is None
    ]
    assert max(lateness) <= 40
    assert min(lateness) >= 0
    assert sum(1 for days in lateness if days >= 2) >= 20
    assert any(line.reason == "future_timestamp" for line in lines)


def test_invalid_payload_variants(lines: list[Line]) -> None:
    bad = [line.obj for line in lines if line.reason == "invalid_payload"]
    payloads = [obj["payload"] for obj in bad if isinstance(obj.get("payload"), dict)]
    assert any(type(p.get("status_code")) is str for p in payloads)  # "200"
    assert any(obj["event_type"] in USER_REQUIRED and obj.get("user_id") is None for obj in bad)
    enums = {"method", "tier", "feature", "status", "plan", "auth_method", "device", "currency"}
    assert any(
        type(p.get(k)) is str and k in enums and p[k] not in _VALID_ENUM_VALUES
        for p in payloads
        for k in p
    )


_VALID_ENUM_VALUES = {
    *("GET", "POST", "PUT", "PATCH", "DELETE", "free", "pro", "enterprise"),
    *("assistant", "search", "graphrag", "other", "ok", "error", "timeout"),
    *("password", "sso", "oauth", "web", "ios", "android", "USD", "EUR", "GBP"),
}


def test_redeliveries_within_and_across_dates(lines: list[Line]) -> None:
    first: dict[str, Line] = {}
    same_date = cross_date = 0
    for line in lines:
        if line.reason is None:
            first.setdefault(line.obj["event_id"], line)
    for line in lines:
        if line.reason == "duplicate":
            original = first[line.obj["event_id"]]
            assert line.text == original.text  # a redelivery carries the same content
            if original.ingest_date == line.ingest_date:
                same_date += 1
            else:
                cross_date += 1
    assert same_date and cross_date


def test_realistic_mix(lines: list[Line]) -> None:
    valid = [line.obj for line in lines if line.reason is None]
    types = Counter(obj["event_type"] for obj in valid)
    share = {t: n / len(valid) for t, n in types.items()}
    assert 0.55 < share["api.request"] < 0.75
    assert 0.10 < share["ai.completion"] < 0.20
    assert 0.05 < share["user.login"] < 0.15
    assert all(share[t] > 0.005 for t in ("user.signup", "project.created", "billing.invoice_paid"))

    api = [obj for obj in valid if obj["event_type"] == "api.request"]
    v2 = [obj for obj in api if obj.get("event_version") == 2]
    assert v2 and all("duration_ms" in obj["payload"] for obj in v2)
    assert any("region" in obj["payload"] for obj in v2)
    assert any(obj.get("event_version") is None for obj in api)  # absent means 1

    signups = [obj for obj in valid if obj["event_type"] == "user.signup"]
    assert all("@" in obj["payload"]["email"] for obj in signups)
    assert any("channel" in obj["payload"] for obj in signups)
    assert any("ip" in obj["payload"] for obj in valid if obj["event_type"] == "user.login")
    assert any(
        obj["payload"]["model"].startswith("gpt-4o")
        for obj in valid
        if obj["event_type"] == "ai.completion"
    )
    assert all(re.fullmatch(r"t-\d{4}", obj["tenant_id"]) for obj in valid)
    assert all(re.fullmatch(r"u-\d{6}", obj["user_id"]) for obj in valid if obj.get("user_id"))
    known = {
        "event_id",
        "event_type",
        "event_version",
        "occurred_at",
        "producer",
        "tenant_id",
        "user_id",
        "payload",
    }
    assert any(set(obj) - known for obj in valid)  # unknown extra fields


def test_line_endings_and_blank_lines(landing: tuple[Path, GenerateSummary]) -> None:
    root, summary = landing
    contents = {}
    for name in summary.files:
        data = (root / name).read_bytes()
        contents[name] = gzip.decompress(data) if name.endswith(".gz") else data
    crlf = [name for name, data in contents.items() if b"\r\n" in data]
    assert any(name.endswith(".gz") for name in crlf)
    assert any(name.endswith(".jsonl") for name in crlf)
    assert any(data.count(b"\n") and b"\r\n" not in data for data in contents.values())
    blank_lines = 0
    for data in contents.values():
        rows = data.split(b"\n")
        blank_lines += sum(1 for row in rows[:-1] if not row.strip())  # [-1]: after the last \n
        blank_lines += bool(rows[-1]) and not rows[-1].strip()
    assert blank_lines >= DAYS  # at least one per ingest date
    assert any(not data.endswith(b"\n") for data in contents.values())  # last line unterminated


# ------------------------------------------------------------------------------------------
# Re-runs, progress, arguments and the command line


def test_rerun_replaces_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "PART_LINES", 300)
    big = generate_landing(str(tmp_path), days=1, records=2_000, end_date=END)
    assert any(name.endswith("-002.jsonl") for name in big.files)
    (tmp_path / f"ingest_date={END}" / "keep-me.txt").write_text("not ours")
    small = generate_landing(str(tmp_path), days=1, records=200, end_date=END)
    on_disk = {p.name for p in (tmp_path / f"ingest_date={END}").iterdir()}
    expected = {n.split("/")[1] for n in small.files + small.ignored_files} | {"keep-me.txt"}
    assert on_disk == expected


def test_writes_through_fsspec(tmp_path: Path) -> None:
    """Any fsspec URL works (memory:// here, abfss:// in production), byte for byte."""
    args = {"days": 2, "records": 500, "seed": 5}
    local = generate_landing(str(tmp_path), **args)
    memory = fsspec.filesystem("memory")
    try:
        remote = generate_landing("memory://generate-test", **args)
        assert remote.files == local.files and remote.reasons == local.reasons
        for name in local.files + local.ignored_files:
            assert memory.cat_file(f"/generate-test/{name}") == (tmp_path / name).read_bytes()
    finally:
        memory.rm("/generate-test", recursive=True)


def test_progress_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "PROGRESS_EVERY", 100)
    calls: list[tuple[int, int]] = []
    generate_landing(str(tmp_path), days=2, records=450, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 450), (200, 450), (300, 450), (400, 450), (450, 450)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "--days"),
        ({"records": 0}, "--records"),
        ({"bad_fraction": 0.6}, "bad_fraction"),
        ({"end_date": date(2020, 1, 10)}, "2020"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        generate_landing(str(tmp_path), **kwargs)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    generate.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAKEHOUSE_LANDING", raising=False)
    argv = [
        "--landing",
        str(tmp_path),
        "--days",
        "2",
        "--records",
        "300",
        "--end-date",
        "2026-10-05",
    ]
    assert generate.run_from_args(parse(argv)) == 0
    out = capsys.readouterr().out
    assert "300 records" in out and "2026-10-04..2026-10-05" in out
    with pytest.raises(UserError, match="YYYY-MM-DD"):
        generate.run_from_args(parse([*argv[:-1], "2026-13-01"]))
    with pytest.raises(UserError, match="--days"):
        generate.run_from_args(parse(["--landing", str(tmp_path), "--days", "0"]))
    with pytest.raises(UserError, match="LAKEHOUSE_LANDING"):
        generate.run_from_args(parse([]))


def test_cli_landing_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Read when the command runs (like `lakehouse run`'s options), not when the parser is built.
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(tmp_path / "env"))
    assert generate.run_from_args(parse(["--days", "1", "--records", "50"])) == 0
    assert (tmp_path / "env").is_dir()
