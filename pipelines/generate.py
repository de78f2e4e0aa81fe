"""Deterministic, realistic landing-zone data (contract §1–§4) for demos, tests and benchmarks.

`generate_landing` writes N ingest dates of JSON-lines files, plain and gzip, with the mess a
real landing zone has: invalid records for every reason code of §4, redeliveries inside one
ingest date and across dates, late events, blank lines, CRLF files, unknown fields, nulls, and
files that must be ignored. The same arguments always give byte-identical files, and the
returned summary says exactly how many records each date holds and how many of them the
pipeline must reject, and why (assuming every date passes its batch gate, which it does for
any `bad_fraction` up to 0.25).

All writes go through fsspec, so a landing zone on ADLS (`abfss://…`) works unchanged.
"""

from __future__ import annotations

import argparse
import gzip
import json
import posixpath
import re
import sys
import time
from bisect import bisect, bisect_left
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from random import Random
from typing import Any

from fsspec import AbstractFileSystem

from pipelines.config import UserError, settings
from pipelines.landing import filesystem, parse_date
from schemas.events import (
    AI_FEATURES,
    AUTH_METHODS,
    CURRENCIES,
    DEVICES,
    HTTP_METHODS,
    REASON_CODES,
)

DEFAULT_END_DATE = date(2026, 11, 1)  # fixed, so the default output never depends on today
EARLIEST_INGEST_DATE = date(2020, 3, 1)  # late events (≤ 40 days) must stay after 2020
MAX_LATE_DAYS = 40
PART_LINES = 100_000  # records per file before a producer starts its next part
PROGRESS_EVERY = 25_000

# Producer of each event type, and the file group (name pattern) each producer writes to.
PRODUCERS: dict[str, str] = {
    "api.request": "api-gateway",
    "ai.completion": "ai-gateway-service",
    "user.signup": "user-service",
    "user.login": "user-service",
    "project.created": "project-service",
    "billing.invoice_paid": "billing-service",
}
GROUP_OF_PRODUCER: dict[str, str] = {
    "api-gateway": "api-gateway",
    "ai-gateway-service": "ai-gateway",
    "user-service": "services",
    "project-service": "services",
    "billing-service": "services",
}
GROUP_FILE_SUFFIX: dict[str, str] = {
    "api-gateway": ".jsonl",
    "ai-gateway": ".jsonl.gz",
    "services": ".jsonl",
}
# Files the generator owns inside an ingest_date folder (stale ones are removed first).
OWNED_FILE = re.compile(
    r"^(?:(?:api-gateway|services)-\d{3}\.jsonl|ai-gateway-\d{3}\.jsonl\.gz"
    r"|_SUCCESS|partial-\d{3}\.jsonl\.tmp|\.in-flight-\d{3}\.jsonl)$"
)

# Share of records per event type; user.signup is scheduled per user instead (about 2.5%).
TYPE_WEIGHTS: dict[str, float] = {
    "api.request": 65.0,
    "ai.completion": 15.0,
    "user.login": 10.0,
    "project.created": 4.0,
    "billing.invoice_paid": 3.0,
}
SIGNUP_SHARE = 0.025
SIGNUPS_PER_USER = 0.77  # expected signup events per user (new users, backfills, re-signups)

# (route, api_version) pairs, most traffic on a few hot routes.
ROUTES = (
    ("/v1/projects", "v1"),
    ("/v1/projects/{id}", "v1"),
    ("/v1/users/me", "v1"),
    ("/v1/billing/invoices", "v1"),
    ("/v2/assistant/chat", "v2"),
    ("/v2/graph/query", "v2"),
    ("/v2/search", "v2"),
    ("/v2/projects/{id}/files", "v2"),
)
ROUTE_WEIGHTS = (18, 10, 14, 3, 22, 15, 12, 6)
METHOD_WEIGHTS = (62, 24, 6, 5, 3)  # in the order of HTTP_METHODS
STATUS_CODES = (200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 502, 503)
STATUS_WEIGHTS = (80, 5, 3, 3, 2, 1, 3, 0.5, 1.2, 1, 0.2, 0.1)
REGIONS = ("westeurope", "northeurope", "eastus", "westus2", "southeastasia", "centralindia")

# GPT-4o style models with (USD per 1k prompt tokens, per 1k completion tokens).
MODELS: dict[str, tuple[float, float]] = {
    "gpt-4o": (0.0025, 0.01),
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "o3-mini": (0.0011, 0.0044),
    "text-embedding-3-large": (0.00013, 0.0),
}
MODEL_WEIGHTS = (30, 40, 10, 10, 5, 5)
FEATURE_WEIGHTS = (50, 25, 15, 10)  # in the order of AI_FEATURES

PLAN_WEIGHTS = (55, 32, 13)  # free, pro, enterprise
COUNTRIES = ("US", "GB", "DE", "IN", "FR", "BR", "CA", "NL", "JP", "AU", "ES", "SE", "PL", "SG")
COUNTRY_WEIGHTS = (30, 10, 9, 9, 6, 5, 5, 4, 4, 4, 3, 3, 3, 2)
CHANNELS = ("organic", "paid_search", "referral", "partner", "social")
FIRST_NAMES = ("alex", "maria", "li", "sam", "fatima", "jonas", "priya", "zoë", "søren", "józef")
IP_PREFIXES = ("203.0.113", "198.51.100", "192.0.2")  # documentation ranges: fake but valid
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "techventure.example")
TEMPLATES = ("blank", "rag-chatbot", "graph-explorer", "data-pipeline", "eval-suite")
INVOICE_AMOUNTS = (1900, 2900, 4900, 9900, 19900, 49900, 129900)

# How occurred_at is written: offset forms and fraction lengths seen across producers.
OFFSETS = (
    ("Z", 0),
    ("+00:00", 0),
    ("+05:30", 19800),
    ("-0500", -18000),
    ("+01:00", 3600),
    ("+0200", 7200),
    ("-08:00", -28800),
    ("+09:00", 32400),
    ("-0330", -12600),
    ("+0545", 20700),
)
OFFSET_WEIGHTS = (50, 4, 10, 10, 6, 5, 6, 5, 2, 2)
FRACTION_DIGITS = (0, 3, 6, 1, 2, 4, 5)
FRACTION_WEIGHTS = (35, 40, 15, 3, 3, 2, 2)

# Invalid-record kinds: (reason code, variant). Every kind is planned at least once per
# ingest date that has room for it, so a test of a few thousand records covers them all.
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("malformed_json", "truncated"),
    ("malformed_json", "nan"),
    ("malformed_json", "other"),
    ("missing_event_id", "any"),
    ("unknown_event_type", "any"),
    ("unsupported_version", "any"),
    ("invalid_timestamp", "no_offset"),
    ("invalid_timestamp", "impossible_date"),
    ("invalid_timestamp", "before_2020"),
    ("invalid_timestamp", "other"),
    ("future_timestamp", "any"),
    ("missing_tenant_id", "any"),
    ("invalid_payload", "wrong_type"),
    ("invalid_payload", "status_code_string"),
    ("invalid_payload", "missing_user_id"),
    ("invalid_payload", "bad_enum"),
    ("invalid_payload", "other"),
    ("duplicate", "same_date"),
    ("duplicate", "cross_date"),
)
BAD_WEIGHTS = (4, 3, 3, 5, 5, 5, 3, 2, 2, 3, 5, 5, 5, 2, 5, 5, 4, 20, 15)
# Kinds that need a base record of certain types; the first is never a signup slot.
FORCED_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("invalid_payload", "status_code_string"): ("api.request",),
    ("invalid_payload", "missing_user_id"): ("ai.completion", "user.login", "project.created"),
}
# Kinds whose slot cannot take one of the date's scheduled signups.
RESERVED_KINDS = frozenset(
    {
        ("duplicate", "same_date"),
        ("duplicate", "cross_date"),
        ("invalid_payload", "status_code_string"),
    }
)
WARMUP_RECORDS = 20  # the first records of a date stay valid, so a redelivery has an original

EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class GenerateSummary:
    """What was written. Counts are records (non-blank lines) of the record files."""

    landing: str
    dates: tuple[date, ...]
    files: tuple[str, ...]  # record files, relative to the landing root
    ignored_files: tuple[str, ...]  # _SUCCESS, *.tmp and dot-files, relative as well
    records: Mapping[date, int]
    bad: Mapping[date, int]  # records the pipeline must quarantine (duplicates included)
    reasons: Mapping[date, Mapping[str, int]]  # bad records per §4 reason code
    # Records that pass every rule of §4 (first copies), per event_type: the expected silver
    # row counts once every date is processed (every date passes its gate).
    silver_rows: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.records.values())

    @property
    def total_bad(self) -> int:
        return sum(self.bad.values())


@dataclass(frozen=True)
class _Tenant:
    tenant_id: str
    plan: str


@dataclass(frozen=True)
class _User:
    user_id: str
    tenant: _Tenant
    plan: str
    device: str
    legacy: bool  # signed up before the first ingest date


class _Picker:
    """Weighted choice with one random() call (random.choices re-sums weights each call)."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = tuple(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def __call__(self, rng: Random) -> Any:
        return self.items[bisect(self.cum, rng.random() * self.total)]


PICK_TYPE = _Picker(TYPE_WEIGHTS, TYPE_WEIGHTS.values())
PICK_ROUTE = _Picker(ROUTES, ROUTE_WEIGHTS)
PICK_METHOD = _Picker(HTTP_METHODS, METHOD_WEIGHTS)
PICK_STATUS = _Picker(STATUS_CODES, STATUS_WEIGHTS)
PICK_MODEL = _Picker(MODELS, MODEL_WEIGHTS)
PICK_FEATURE = _Picker(AI_FEATURES, FEATURE_WEIGHTS)
PICK_AUTH = _Picker(AUTH_METHODS, (50, 25, 25))
PICK_PLAN = _Picker(("free", "pro", "enterprise"), PLAN_WEIGHTS)
PICK_COUNTRY = _Picker(COUNTRIES, COUNTRY_WEIGHTS)
PICK_OFFSET = _Picker(OFFSETS, OFFSET_WEIGHTS)
PICK_DIGITS = _Picker(FRACTION_DIGITS, FRACTION_WEIGHTS)
PICK_BAD = _Picker(BAD_KINDS, BAD_WEIGHTS)


def _day_start(day: date) -> int:
    """Epoch seconds of 00:00 UTC on `day`."""
    return (day - EPOCH).days * 86400


def format_timestamp(epoch_seconds: int, micros: int, offset: tuple[str, int], digits: int) -> str:
    """An occurred_at string for an instant, in local time of `offset`, fraction cut to digits."""
    text, seconds = offset
    t = time.gmtime(epoch_seconds + seconds)
    fraction = f".{micros:06d}"[: digits + 1] if digits else ""
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{fraction}{text}"
    )


# ---------------------------------------------------------------------------------------------
# Output files


class _LineFile:
    """One record file, written in chunks; gzip output is byte-stable (mtime 0, no name)."""

    def __init__(self, fs: AbstractFileSystem, path: str, *, eol: str, final_newline: bool) -> None:
        self._raw = fs.open(path, "wb")
        self._out = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0)
            if path.endswith(".gz")
            else self._raw
        )
        self._eol = eol
        self._final_newline = final_newline
        self._buffer: list[str] = []
        self._started = False
        self._last_blank = False
        self.records = 0

    def add(self, line: str, *, blank: bool = False) -> None:
        self._buffer.append(line)
        self._last_blank = blank
        self.records += not blank
        if len(self._buffer) >= 4096:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        text = self._eol.join(self._buffer)
        self._out.write(((self._eol if self._started else "") + text).encode("utf-8"))
        self._started = True
        self._buffer.clear()

    def close(self) -> None:
        self._flush()
        # An empty last line needs its newline, or it would not be a line at all.
        if self._started and (self._final_newline or self._last_blank):
            self._out.write(self._eol.encode())
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


class _DayFiles:
    """The record files of one ingest date: one series of parts per producer group."""

    def __init__(self, fs: AbstractFileSystem, folder: str, day_index: int) -> None:
        self._fs = fs
        self._folder = folder
        self._day_index = day_index
        self._open: dict[str, _LineFile] = {}
        self._parts: Counter[str] = Counter()
        self.names: list[str] = []

    def _style(self, group: str) -> tuple[str, bool]:
        """(line ending, final newline): the gzip producer runs on Windows (CRLF), the
        services writer alternates CRLF by day and leaves its last line unterminated."""
        if group == "ai-gateway":
            return "\r\n", True
        if group == "services":
            return ("\r\n" if self._day_index % 2 else "\n"), False
        return "\n", True

    def writer(self, group: str) -> _LineFile:
        current = self._open.get(group)
        if current is None or current.records >= PART_LINES:
            if current is not None:
                current.close()
            name = f"{group}-{self._parts[group]:03d}{GROUP_FILE_SUFFIX[group]}"
            self._parts[group] += 1
            eol, final_newline = self._style(group)
            path = posixpath.join(self._folder, name)
            current = _LineFile(self._fs, path, eol=eol, final_newline=final_newline)
            self._open[group] = current
            self.names.append(name)
        return current

    def close(self) -> None:
        for writer in self._open.values():
            writer.close()
        self._open.clear()


# ---------------------------------------------------------------------------------------------
# The generator


class _Generator:
    def __init__(self, rng: Random, dates: list[date], records: int, bad_fraction: float) -> None:
        self.rng = rng
        self.dates = dates
        self.bad_fraction = bad_fraction
        self.per_day = _split_evenly(records, len(dates), rng)
        self._build_world(records)
        self.previous_lines: list[tuple[str, str]] = []  # (group, line) of earlier dates
        self.silver_rows: Counter[str] = Counter()
        self._next_invoice = 1
        self._signed_up: set[str] = set()

    # -- world: tenants, users and their signups ---------------------------------------------

    def _build_world(self, records: int) -> None:
        rng = self.rng
        n_tenants = min(200, max(5, records // 2500))
        self.tenants = [_Tenant(f"t-{i:04d}", PICK_PLAN(rng)) for i in range(1, n_tenants + 1)]
        self.pick_tenant = _Picker(self.tenants, [1 / r**0.8 for r in range(1, n_tenants + 1)])

        days = len(self.dates)
        n_users = max(10, round(records * SIGNUP_SHARE / SIGNUPS_PER_USER))
        n_legacy = max(3, round(n_users * 0.3))  # signed up before the first ingest date
        # User ids grow with signup time: legacy users first, then each date's new users.
        new_users = sorted(rng.randrange(days) for _ in range(n_users - n_legacy))
        activation = [-1] * n_legacy + new_users
        self.users: list[_User] = []
        self.signups: list[list[_User]] = [[] for _ in range(days)]
        for number, day in enumerate(activation, start=1):
            tenant = self.pick_tenant(rng)
            plan = tenant.plan if rng.random() < 0.8 else "free"
            user = _User(f"u-{number:06d}", tenant, plan, rng.choice(DEVICES), day < 0)
            self.users.append(user)
            if day >= 0:
                self.signups[day].append(user)
                if rng.random() < 0.02:  # signs up again later: only the first one counts
                    self.signups[rng.randrange(day, days)].append(user)
            elif rng.random() < 0.2:  # legacy user whose signup is backfilled late
                self.signups[rng.randrange(days)].append(user)
        # Users who may act on date d: the legacy ones and those who signed up before d.
        self.active = [n_legacy + bisect_left(new_users, d) for d in range(days)]
        for day_signups in self.signups:
            rng.shuffle(day_signups)

    def _pick_user(self, day_index: int) -> _User:
        # Older users are more active: skew the index towards the start of the pool.
        pool = self.active[day_index]
        return self.users[int(pool * self.rng.random() ** 1.6)]

    # -- timestamps ---------------------------------------------------------------------------

    def _occurred(self, ingest: date, late: bool = False) -> str:
        """A valid occurred_at: mostly the ingest date, some the day before, a few late."""
        rng = self.rng
        r = 1.0 if late else rng.random()
        lateness = 0 if r < 0.85 else 1 if r < 0.97 else rng.randint(2, MAX_LATE_DAYS)
        # int(random() * n) rather than randrange(n): same spread, a third of the cost.
        seconds = _day_start(ingest) - lateness * 86400 + int(rng.random() * 86400)
        micros = int(rng.random() * 1_000_000)
        return format_timestamp(seconds, micros, PICK_OFFSET(rng), PICK_DIGITS(rng))

    # -- valid records --------------------------------------------------------------------------

    def _envelope(
        self,
        event_type: str,
        version: int,
        ingest: date,
        user: _User,
        payload: dict[str, Any],
        late: bool = False,
    ) -> dict[str, Any]:
        rng = self.rng
        record: dict[str, Any] = {"event_id": self._event_id(), "event_type": event_type}
        r = rng.random()
        if version != 1 or r < 0.75:
            record["event_version"] = version
        elif r < 0.77:
            record["event_version"] = None  # null counts as absent, so version 1
        record["occurred_at"] = self._occurred(ingest, late)
        record["producer"] = PRODUCERS[event_type]
        record["tenant_id"] = user.tenant.tenant_id
        record["user_id"] = user.user_id  # callers drop it where it is optional
        record["payload"] = payload
        if rng.random() < 0.03:  # unknown extra fields are ignored, bronze keeps them
            record["trace_id"] = f"{rng.getrandbits(64):016x}"
            record["_meta"] = {"host": f"ingest-{rng.randrange(8)}", "retries": 0}
        return record

    def _event_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _api_request(self, day_index: int, ingest: date) -> dict[str, Any]:
        rng = self.rng
        user = self._pick_user(day_index)
        route, api_version = PICK_ROUTE(rng)
        status = PICK_STATUS(rng)
        latency = rng.lognormvariate(3.6, 0.7) * (4 if status >= 500 else 1)
        latency = round(latency) if rng.random() < 0.03 else round(latency, 3)
        version = 2 if rng.random() < 0.35 else 1
        payload: dict[str, Any] = {
            "method": PICK_METHOD(rng),
            "route": route,
            "api_version": api_version,
            "status_code": status,
            "tier": user.tenant.plan,
            ("duration_ms" if version == 2 else "latency_ms"): latency,
        }
        r = rng.random()
        if status == 429 or r < 0.005:
            payload["throttled"] = True
        elif r < 0.7:
            payload["throttled"] = False
        elif r < 0.72:
            payload["throttled"] = None  # null counts as absent: false
        if version == 2 and rng.random() < 0.8:
            payload["region"] = rng.choice(REGIONS) if rng.random() < 0.97 else None
        elif version == 1 and rng.random() < 0.01:
            payload["region"] = rng.choice(REGIONS)  # unknown to v1: ignored, region stays null
        record = self._envelope("api.request", version, ingest, user, payload)
        r = rng.random()
        if r < 0.12:  # API-key traffic without a user
            del record["user_id"]
        elif r < 0.14:
            record["user_id"] = None
        return record

    def _ai_completion(self, day_index: int, ingest: date) -> dict[str, Any]:
        rng = self.rng
        user = self._pick_user(day_index)
        model = PICK_MODEL(rng)
        prompt_price, completion_price = MODELS[model]
        prompt = int(rng.lognormvariate(6.8, 0.9))
        completion = 0 if completion_price == 0 else int(rng.lognormvariate(5.6, 0.8))
        r = rng.random()
        status = "ok" if r < 0.95 else "error" if r < 0.98 else "timeout"
        latency = 30 + completion * rng.uniform(8, 25) + rng.uniform(0, 400)
        if status == "timeout":
            latency = 30_000 + rng.uniform(0, 500)
        cost = (prompt * prompt_price + completion * completion_price) / 1000
        payload = {
            "model": model,
            "feature": PICK_FEATURE(rng),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": round(latency, 2),
            "cost_usd": round(cost, 6),
            "status": status,
        }
        if rng.random() < 0.05:
            payload["cache_hit"] = rng.random() < 0.3  # unknown payload field
        return self._envelope("ai.completion", 1, ingest, user, payload)

    def _user_login(self, day_index: int, ingest: date) -> dict[str, Any]:
        rng = self.rng
        user = self._pick_user(day_index)
        payload: dict[str, Any] = {
            "auth_method": PICK_AUTH(rng),
            "device": user.device if rng.random() < 0.8 else rng.choice(DEVICES),
        }
        if rng.random() < 0.6:
            payload["ip"] = f"{rng.choice(IP_PREFIXES)}.{rng.randrange(1, 255)}"
        return self._envelope("user.login", 1, ingest, user, payload)

    def _user_signup(self, user: _User, ingest: date) -> dict[str, Any]:
        rng = self.rng
        number = int(user.user_id[2:])
        email = f"{rng.choice(FIRST_NAMES)}.{number}@{rng.choice(EMAIL_DOMAINS)}"
        r = rng.random()
        if r < 0.05:
            email = email.title()  # the hash is over the trimmed, lower-cased address
        elif r < 0.07:
            email = f"  {email} "
        again = user.user_id in self._signed_up  # a second signup: only the first counts
        self._signed_up.add(user.user_id)
        payload: dict[str, Any] = {
            "plan": PICK_PLAN(rng) if again else user.plan,
            "country": PICK_COUNTRY(rng),
            "email": email,
        }
        r = rng.random()
        if r < 0.7:
            payload["channel"] = rng.choice(CHANNELS)
        elif r < 0.75:
            payload["channel"] = None
        # A legacy user's signup arrives as a backfill, weeks after it happened.
        return self._envelope("user.signup", 1, ingest, user, payload, late=user.legacy)

    def _project_created(self, day_index: int, ingest: date) -> dict[str, Any]:
        rng = self.rng
        payload: dict[str, Any] = {"project_id": f"p-{rng.getrandbits(40):010x}"}
        r = rng.random()
        if r < 0.6:
            payload["template"] = rng.choice(TEMPLATES)
        elif r < 0.65:
            payload["template"] = None  # absent → "blank"
        return self._envelope("project.created", 1, ingest, self._pick_user(day_index), payload)

    def _invoice_paid(self, day_index: int, ingest: date) -> dict[str, Any]:
        rng = self.rng
        self._next_invoice += 1
        payload = {
            "invoice_id": f"in-{ingest:%Y%m}-{self._next_invoice:07d}",
            "amount_cents": rng.choice(INVOICE_AMOUNTS) + rng.randrange(0, 5000, 100),
            "currency": "USD" if rng.random() < 0.6 else rng.choice(CURRENCIES),
        }
        user = self._pick_user(day_index)
        record = self._envelope("billing.invoice_paid", 1, ingest, user, payload)
        if rng.random() < 0.5:  # paid by the tenant's billing account, not a person
            del record["user_id"]
        return record

    def _record(
        self, day_index: int, ingest: date, signup: _User | None, kind: tuple[str, str] | None
    ) -> dict[str, Any]:
        if signup is not None:
            return self._user_signup(signup, ingest)
        forced = FORCED_TYPES.get(kind) if kind else None
        event_type = self.rng.choice(forced) if forced else PICK_TYPE(self.rng)
        builder = {
            "api.request": self._api_request,
            "ai.completion": self._ai_completion,
            "user.login": self._user_login,
            "project.created": self._project_created,
            "billing.invoice_paid": self._invoice_paid,
        }[event_type]
        return builder(day_index, ingest)

    # -- one ingest date ----------------------------------------------------------------------

    def _plan_bad(self, day_index: int, n: int) -> dict[int, tuple[str, str]]:
        """Positions of the invalid records of a date, and which kind each one is."""
        rng = self.rng
        room = max(0, n - WARMUP_RECORDS)
        count = min(room, int(n * self.bad_fraction))  # rounded down: never over the gate
        kinds = list(BAD_KINDS)
        if not self.previous_lines:  # nothing earlier to redeliver
            kinds.remove(("duplicate", "cross_date"))
        # Cover every kind once (rotating by date when there is too little room), then weighted.
        start = day_index * 7 % len(kinds)
        plan = (kinds[start:] + kinds[:start])[:count]
        while len(plan) < count:
            kind = PICK_BAD(rng)
            if kind in kinds:
                plan.append(kind)
        positions = rng.sample(range(WARMUP_RECORDS, n), count) if count else []
        return dict(zip(positions, plan, strict=True))

    def generate_day(
        self, day_index: int, files: _DayFiles, tick: Callable[[], None]
    ) -> tuple[int, Counter[str]]:
        """Write one ingest date's records; returns (records, reasons of the bad ones)."""
        rng = self.rng
        ingest = self.dates[day_index]
        n = self.per_day[day_index]
        plan = self._plan_bad(day_index, n)
        reserved_left = sum(1 for kind in plan.values() if kind in RESERVED_KINDS)
        signups = self.signups[day_index][: n // 2]
        recent: list[tuple[str, str]] = []  # valid lines of this date, for redeliveries
        reasons: Counter[str] = Counter()
        for i in range(n):
            kind = plan.get(i)
            if kind in RESERVED_KINDS:
                reserved_left -= 1
            if kind is not None and kind[0] == "duplicate":
                pool = self.previous_lines if kind[1] == "cross_date" else recent
                group, line = pool[rng.randrange(len(pool))]
                reasons["duplicate"] += 1
            else:
                # Spread the date's signups uniformly over the slots that can take them.
                slots_left = n - i - reserved_left
                take = kind not in RESERVED_KINDS and signups
                take = take and rng.random() * slots_left < len(signups)
                signup = signups.pop() if take else None
                record = self._record(day_index, ingest, signup, kind)
                group = GROUP_OF_PRODUCER[record["producer"]]
                if kind is None:
                    line = _dumps(record)
                    self.silver_rows[record["event_type"]] += 1
                    _remember(rng, recent, (group, line))
                else:
                    line = self._corrupt(kind, record, ingest)
                    reasons[kind[0]] += 1
            writer = files.writer(group)
            writer.add(line)
            if i == n // 2 or rng.random() < 0.0007:  # blank lines are not records
                writer.add(rng.choice(("", "  ", "\t", " \t ")), blank=True)
            tick()
        self._keep_for_redelivery(recent)
        return n, reasons

    def _keep_for_redelivery(self, recent: list[tuple[str, str]]) -> None:
        sample = self.rng.sample(recent, min(len(recent), 500))
        self.previous_lines.extend(sample)
        if len(self.previous_lines) > 5000:
            del self.previous_lines[: len(self.previous_lines) - 5000]

    # -- invalid records ------------------------------------------------------------------------

    def _corrupt(self, kind: tuple[str, str], record: dict[str, Any], ingest: date) -> str:
        """A line that fails exactly rule `kind[0]` of §4 (all earlier rules pass)."""
        reason, variant = kind
        if reason == "malformed_json":
            return self._malformed(variant, record)
        rng = self.rng
        if reason == "missing_event_id":
            _set_or_drop(record, "event_id", rng.choice((None, "", "   ", " \t", 12345, "-")))
        elif reason == "unknown_event_type":
            value = rng.choice(("api.response", "user.logout", "API.REQUEST", "", None, 7, "-"))
            _set_or_drop(record, "event_type", value)
        elif reason == "unsupported_version":
            record["event_version"] = _bad_version(rng, record["event_type"])
        elif reason == "invalid_timestamp":
            _set_or_drop(record, "occurred_at", _bad_timestamp(rng, variant, ingest))
        elif reason == "future_timestamp":
            record["occurred_at"] = _future_timestamp(rng, ingest)
        elif reason == "missing_tenant_id":
            _set_or_drop(record, "tenant_id", rng.choice((None, "", "  ", 42, "-")))
        elif reason == "invalid_payload":
            _break_payload(rng, variant, record)
        else:
            raise AssertionError(kind)
        return _dumps(record)

    def _malformed(self, variant: str, record: dict[str, Any]) -> str:
        rng = self.rng
        line = _dumps(record)
        if variant == "truncated":  # a writer died mid-line: no closing brace
            return line[: rng.randrange(10, len(line) - 1)]
        if variant == "nan":  # Python's json writes NaN/Infinity; RFC 8259 has no such thing
            field = rng.choice(("NaN", "Infinity", "-Infinity"))
            return line[:-1] + f', "score": {field}}}'
        choice = rng.randrange(6)
        if choice == 0:
            return "not json at all"
        if choice == 1:
            return json.dumps([record])  # valid JSON, but an array
        if choice == 2:
            return str(record)  # a Python dict repr: single quotes, None
        if choice == 3:
            return line[:-1] + ", }"  # trailing comma
        if choice == 4:
            return line + line  # two objects on one line (a lost newline)
        return json.dumps(line)  # double-encoded: a JSON string


# Producers differ in style: billing writes compact JSON, user-service escapes non-ASCII.
# Encoders are built once (json.dumps with options builds a new one per call).
_ENCODE_COMPACT = json.JSONEncoder(separators=(",", ":")).encode
_ENCODE_ASCII = json.JSONEncoder().encode
_ENCODE_UTF8 = json.JSONEncoder(ensure_ascii=False).encode


def _dumps(record: dict[str, Any]) -> str:
    producer = record.get("producer")
    if producer == "billing-service":
        return _ENCODE_COMPACT(record)
    if producer == "user-service":
        return _ENCODE_ASCII(record)
    return _ENCODE_UTF8(record)


def _remember(rng: Random, recent: list[tuple[str, str]], item: tuple[str, str]) -> None:
    """Keep up to 1000 lines of the date to redeliver, refreshed now and then."""
    if len(recent) < 1000:
        recent.append(item)
    elif rng.random() < 0.02:
        recent[rng.randrange(1000)] = item


def _set_or_drop(record: dict[str, Any], key: str, value: Any) -> None:
    """`None` leaves the field out, "-" writes an explicit null; anything else is the value."""
    if value is None:
        record.pop(key, None)
    elif value == "-":
        record[key] = None
    else:
        record[key] = value


def _bad_version(rng: Random, event_type: str) -> Any:
    if event_type == "api.request":
        return rng.choice((3, 0, "2", 1.5, True))
    return rng.choice((2, 3, "1", 1.5, True, -1))


def _bad_timestamp(rng: Random, variant: str, ingest: date) -> Any:
    day = ingest.isoformat()
    year = ingest.year
    if variant == "no_offset":
        return rng.choice((f"{day}T08:15:00", f"{day}T12:34:56.789", f"{day}T23:59:59.123456"))
    if variant == "impossible_date":
        return rng.choice(
            (
                f"{year}-02-30T10:00:00Z",
                f"{year}-04-31T08:15:00+02:00",
                f"{year}-13-01T00:00:00Z",
                f"{day}T25:10:00Z",
                f"{day}T12:61:00-0500",
                "2025-02-29T12:00:00Z",  # not a leap year
            )
        )
    if variant == "before_2020":
        return rng.choice(
            (
                "2019-12-31T23:59:59.999999Z",
                "2020-01-01T03:00:00+05:30",  # 2019-12-31T21:30Z in UTC
                "1970-01-01T00:00:00Z",
                "2014-07-04T10:00:00-0500",
            )
        )
    return rng.choice(
        (
            None,
            "-",
            "",
            f"{day} 12:34:56Z",  # space, not T
            f"{day}T12:34:56.1234567Z",  # seven fraction digits
            f"{day}T12:34:56.Z",
            f"{day}T12:34Z",  # no seconds
            f"{day}T12:34:56+25:00",  # offset hours > 23
            f"{day}T12:34:56+05:75",  # offset minutes > 59
            f"{day.replace('-', '')}T123456Z",
            f"Sun, {ingest.day:02d} Jan {ingest.year} 12:34:56 GMT",  # RFC 1123
            _day_start(ingest) + 45_296,  # epoch seconds: a number, not a string
        )
    )


def _future_timestamp(rng: Random, ingest: date) -> str:
    """At or after 00:00 UTC of the day after `ingest` (clock skew, test traffic)."""
    tomorrow = ingest + timedelta(days=1)
    r = rng.random()
    if r < 0.2:
        return f"{tomorrow}T00:00:00Z"  # exactly the boundary is already future
    if r < 0.4:
        return f"{ingest}T23:30:00-0500"  # local date is the ingest date, UTC is not
    seconds = _day_start(tomorrow) + rng.randrange(3 * 86400)
    return format_timestamp(seconds, rng.randrange(1_000_000), PICK_OFFSET(rng), PICK_DIGITS(rng))


def _break_payload(rng: Random, variant: str, record: dict[str, Any]) -> None:
    """Break one §3 rule of the payload (or of user_id), keeping the envelope valid."""
    event_type = record["event_type"]
    payload = record["payload"]
    if variant == "missing_user_id":  # the record is of a type that requires user_id
        _set_or_drop(record, "user_id", rng.choice((None, None, "-", "", "  ", 1337)))
        return
    if variant == "status_code_string":  # the record is an api.request
        payload["status_code"] = str(payload["status_code"])
        return
    if variant == "wrong_type":
        key, value = rng.choice(_WRONG_TYPES[event_type])
    elif variant == "bad_enum":
        key, value = rng.choice(_BAD_ENUMS[event_type])
    else:
        key, value = rng.choice(_OTHER_BREAKS[event_type])
    if key in ("payload", "user_id"):
        _set_or_drop(record, key, value)
    elif key == "duration_ms":  # a v2 producer still sending the v1 field name
        value = payload.pop("duration_ms", None)
        payload["latency_ms"] = value if value is not None else payload.pop("latency_ms")
        record["event_version"] = 2
    else:
        api_v2 = event_type == "api.request" and record.get("event_version") == 2
        if key == "latency_ms" and api_v2:
            key = "duration_ms"
        _set_or_drop(payload, key, value)


_WRONG_TYPES: dict[str, list[tuple[str, Any]]] = {
    "api.request": [
        ("status_code", "200"),
        ("status_code", 200.5),
        ("status_code", True),
        ("latency_ms", "57.3"),
        ("throttled", "false"),
        ("route", 42),
    ],
    "ai.completion": [
        ("prompt_tokens", "1200"),
        ("completion_tokens", 12.5),
        ("cost_usd", "0.01"),
        ("model", 4),
    ],
    "user.signup": [("country", 44), ("email", ["a@example.com"]), ("channel", False)],
    "user.login": [("device", 1), ("ip", 3405803776)],
    "project.created": [("project_id", 12345), ("template", 5)],
    "billing.invoice_paid": [("amount_cents", "1999"), ("amount_cents", 19.99)],
}
_BAD_ENUMS: dict[str, list[tuple[str, Any]]] = {
    "api.request": [
        ("method", "get"),
        ("method", "FETCH"),
        ("tier", "premium"),
        ("api_version", "v3"),
    ],
    "ai.completion": [("feature", "chat"), ("status", "success"), ("status", "OK")],
    "user.signup": [("plan", "basic"), ("country", "us"), ("country", "USA")],
    "user.login": [("auth_method", "magic_link"), ("device", "windows")],
    "project.created": [("project_id", ""), ("project_id", "   ")],
    "billing.invoice_paid": [("currency", "JPY"), ("currency", "usd")],
}
_OTHER_BREAKS: dict[str, list[tuple[str, Any]]] = {
    "api.request": [
        ("status_code", 600),
        ("status_code", 99),
        ("latency_ms", -1.5),
        ("latency_ms", None),
        ("method", None),
        ("route", "  "),
        ("duration_ms", None),
        ("payload", "GET /v1/projects"),
        ("user_id", ""),  # optional, but present must mean a non-empty string
    ],
    "ai.completion": [
        ("prompt_tokens", -5),
        ("cost_usd", -0.01),
        ("model", None),
        ("model", ""),
        ("payload", "-"),
    ],
    "user.signup": [("email", "not-an-email"), ("email", None), ("plan", None), ("payload", [])],
    "user.login": [("auth_method", None), ("payload", None)],
    "project.created": [("project_id", None), ("payload", "-")],
    "billing.invoice_paid": [
        ("amount_cents", 0),
        ("amount_cents", -500),
        ("amount_cents", 2**63),  # does not fit in 64 signed bits
        ("invoice_id", None),
        ("user_id", 42),
    ],
}


def _split_evenly(total: int, parts: int, rng: Random) -> list[int]:
    """`total` split over `parts` with ±10% wobble, summing exactly to `total`."""
    weights = [1 + rng.uniform(-0.1, 0.1) for _ in range(parts)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Public API


def generate_landing(
    landing: str,
    days: int = 5,
    records: int = 10_000,
    seed: int = 42,
    end_date: date | None = None,
    bad_fraction: float = 0.035,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """Write `records` records over `days` ingest dates ending at `end_date` into `landing`.

    Deterministic: the same arguments give byte-identical files. Files this generator owns
    in the target ingest_date folders are replaced; other files there are left alone.
    """
    end = end_date or DEFAULT_END_DATE
    _check_arguments(days, records, end, bad_fraction)
    dates = [end - timedelta(days=days - 1 - i) for i in range(days)]
    rng = Random(seed)
    generator = _Generator(rng, dates, records, bad_fraction)
    fs, root = filesystem(landing)

    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, records)

    files: list[str] = []
    ignored: list[str] = []
    counts: dict[date, int] = {}
    bad: dict[date, int] = {}
    reasons: dict[date, dict[str, int]] = {}
    for index, ingest in enumerate(dates):
        folder = posixpath.join(root, f"ingest_date={ingest.isoformat()}")
        _prepare_folder(fs, folder)
        day_files = _DayFiles(fs, folder, index)
        try:
            counts[ingest], day_reasons = generator.generate_day(index, day_files, tick)
        finally:
            day_files.close()
        reasons[ingest] = {code: day_reasons[code] for code in REASON_CODES if day_reasons[code]}
        bad[ingest] = sum(day_reasons.values())
        relative = f"ingest_date={ingest.isoformat()}"
        files += [f"{relative}/{name}" for name in day_files.names]
        ignored += [
            f"{relative}/{name}"
            for name in _write_ignored_files(fs, folder, rng, len(day_files.names))
        ]
    if progress is not None and done % PROGRESS_EVERY:
        progress(done, records)
    return GenerateSummary(
        landing=landing,
        dates=tuple(dates),
        files=tuple(files),
        ignored_files=tuple(ignored),
        records=counts,
        bad=bad,
        reasons=reasons,
        silver_rows=dict(sorted(generator.silver_rows.items())),
    )


def _check_arguments(days: int, records: int, end: date, bad_fraction: float) -> None:
    if days < 1:
        raise UserError(f"--days must be at least 1, got {days}")
    if records < 1:
        raise UserError(f"--records must be at least 1, got {records}")
    if not 0 <= bad_fraction <= 0.25:
        raise UserError(f"bad_fraction must be between 0 and 0.25, got {bad_fraction}")
    first = end - timedelta(days=days - 1)
    if first < EARLIEST_INGEST_DATE:
        raise UserError(
            f"the first ingest date would be {first}; it must be on or after "
            f"{EARLIEST_INGEST_DATE} so that late events stay after 2020"
        )


def _prepare_folder(fs: AbstractFileSystem, folder: str) -> None:
    """Create the folder and remove files of an earlier run, so parts never go stale."""
    if fs.exists(folder):
        for entry in fs.ls(folder, detail=False):
            if OWNED_FILE.match(posixpath.basename(entry.rstrip("/"))):
                fs.rm(entry)
    else:
        fs.makedirs(folder, exist_ok=True)


def _write_ignored_files(fs: AbstractFileSystem, folder: str, rng: Random, parts: int) -> list[str]:
    """Files a reader must skip: a success marker, a half-written part, an editor dot-file."""
    partial = f"partial-{parts:03d}.jsonl.tmp"
    in_flight = ".in-flight-000.jsonl"
    event = json.dumps({"event_id": f"{rng.getrandbits(64):016x}", "event_type": "api.request"})
    contents = {
        "_SUCCESS": b"",
        partial: (event + "\n" + event[: len(event) // 2]).encode(),
        in_flight: (event + "\n").encode(),
    }
    for name, data in contents.items():
        with fs.open(posixpath.join(folder, name), "wb") as handle:
            handle.write(data)
    return list(contents)


# ---------------------------------------------------------------------------------------------
# Command line (`lakehouse generate`)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--landing",
        default=None,
        help="landing zone path or abfss:// URI (default: $LAKEHOUSE_LANDING)",
    )
    parser.add_argument("--days", type=int, default=5, help="ingest dates (default: 5)")
    parser.add_argument(
        "--records", type=int, default=10_000, help="records over all dates (default: 10000)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument(
        "--end-date",
        default=None,
        help=f"last ingest date, YYYY-MM-DD (default: {DEFAULT_END_DATE})",
    )


def run_from_args(args: argparse.Namespace) -> int:
    args.landing = args.landing or settings().run.landing
    if not args.landing:
        raise UserError("no landing zone: pass --landing or set LAKEHOUSE_LANDING")
    end_date = parse_date(args.end_date) if args.end_date else None
    progress = _print_progress if args.records >= 200_000 else None
    started = time.monotonic()
    summary = generate_landing(
        args.landing,
        days=args.days,
        records=args.records,
        seed=args.seed,
        end_date=end_date,
        progress=progress,
    )
    if progress is not None:
        print(file=sys.stderr)
    print(
        f"generated {summary.total:,} records ({summary.total_bad:,} to be quarantined) "
        f"in {len(summary.dates)} ingest dates {summary.dates[0]}..{summary.dates[-1]}, "
        f"{len(summary.files)} files under {args.landing} "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


def _print_progress(done: int, total: int) -> None:
    print(f"\rgenerating: {done:,}/{total:,} records ({done / total:.0%})", end="", file=sys.stderr)
