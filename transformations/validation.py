"""Rules 1-8 of the contract (§4): one pass over bronze rows, in the JVM, no Python UDFs.

Every line is parsed once with Spark's VARIANT (`try_parse_json`); JSON types are checked
exactly with `schema_of_variant` (a JSON `"200"` is a STRING, `200.5` a DECIMAL, `200` a
BIGINT), so the rules read like the contract. The result has one row per input row: the
first failing rule's `reason` (null when valid), a human `detail`, and the converted fields
the silver tables need.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas import events as ev

INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
FLOAT_TYPES = ("FLOAT", "DOUBLE")

# YYYY-MM-DDThh:mm:ss[.f{1,6}](Z|±hh:mm|±hhmm)
TIMESTAMP_PATTERN = (
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2}):?(\d{2}))$"
)
# "Non-empty" means at least one character that is not (Unicode) whitespace.
NON_BLANK = r"(?U)\S"

# Columns the validated frame carries besides the bronze keys (used by silver and quarantine).
VALIDATED_FIELDS = (
    "reason",
    "detail",
    "event_id",
    "event_type",
    "event_version",
    "tenant_id",
    "user_id",
    "occurred_at",
    "event_date",
)


class _Field:
    """A JSON field of the parsed line: its exact JSON type and typed accessors."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.type_name = f"_t_{_slug(path)}"

    @property
    def kind(self) -> Column:
        return F.col(self.type_name)

    def type_column(self) -> Column:
        return F.expr(f"schema_of_variant(variant_get(_v, '{self.path}'))")

    def get(self, spark_type: str) -> Column:
        return F.expr(f"try_variant_get(_v, '{self.path}', '{spark_type}')")

    # A JSON null counts as absent.
    @property
    def present(self) -> Column:
        return self.kind.isNotNull() & (self.kind != "VOID")

    @property
    def absent(self) -> Column:
        return ~self.present

    @property
    def is_string(self) -> Column:
        return self.kind == "STRING"

    @property
    def is_non_blank_string(self) -> Column:
        return self.is_string & self.get("string").rlike(NON_BLANK)

    @property
    def is_integer(self) -> Column:
        return self.kind.isin(*INTEGER_TYPES)

    @property
    def is_number(self) -> Column:
        return self.is_integer | self.kind.isin(*FLOAT_TYPES) | self.kind.startswith("DECIMAL")

    @property
    def is_boolean(self) -> Column:
        return self.kind == "BOOLEAN"

    @property
    def is_object(self) -> Column:
        return self.kind.startswith("OBJECT")

    def one_of(self, values: tuple[str, ...]) -> Column:
        return self.is_string & self.get("string").isin(*values)

    def integer_between(self, low: int, high: int | None = None) -> Column:
        value = self.get("bigint")
        ok = self.is_integer & (value >= low)
        return ok & (value <= high) if high is not None else ok

    def number_at_least(self, low: float) -> Column:
        return self.is_number & (self.get("double") >= low)

    def optional(self, rule: Column) -> Column:
        return self.absent | rule


def _slug(path: str) -> str:
    return path.replace("$.", "").replace(".", "__")


ENVELOPE = {
    name: _Field(f"$.{name}")
    for name in ("event_id", "event_type", "event_version", "occurred_at", "tenant_id", "user_id")
}
PAYLOAD_ROOT = _Field("$.payload")
PAYLOAD = {
    name: _Field(f"$.payload.{name}")
    for name in (
        "method",
        "route",
        "api_version",
        "status_code",
        "latency_ms",
        "duration_ms",
        "tier",
        "throttled",
        "region",
        "model",
        "feature",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "status",
        "plan",
        "country",
        "email",
        "channel",
        "auth_method",
        "device",
        "ip",
        "project_id",
        "template",
        "invoice_id",
        "amount_cents",
        "currency",
    )
}
ALL_FIELDS = [*ENVELOPE.values(), PAYLOAD_ROOT, *PAYLOAD.values()]


def _payload_rules(event_type: str, version: Column) -> list[tuple[Column, str]]:
    """(rule holds, message if not) for each payload field of one event type (§3)."""
    p = PAYLOAD
    if event_type == "api.request":
        v2 = version == 2
        return [
            (
                p["method"].one_of(ev.HTTP_METHODS),
                "payload.method not one of GET/POST/PUT/PATCH/DELETE",
            ),
            (p["route"].is_non_blank_string, "payload.route must be a non-empty string"),
            (p["api_version"].one_of(ev.API_VERSIONS), "payload.api_version must be v1 or v2"),
            (
                p["status_code"].integer_between(100, 599),
                "payload.status_code must be an integer 100-599",
            ),
            (
                F.when(v2, p["duration_ms"].number_at_least(0)).otherwise(
                    p["latency_ms"].number_at_least(0)
                ),
                "payload latency (v1 latency_ms, v2 duration_ms) must be a number >= 0",
            ),
            (p["tier"].one_of(ev.TIERS), "payload.tier must be free/pro/enterprise"),
            (
                p["throttled"].optional(p["throttled"].is_boolean),
                "payload.throttled must be a boolean",
            ),
            (
                ~v2 | p["region"].optional(p["region"].is_string),
                "payload.region must be a string",
            ),
        ]
    if event_type == "ai.completion":
        return [
            (p["model"].is_non_blank_string, "payload.model must be a non-empty string"),
            (
                p["feature"].one_of(ev.AI_FEATURES),
                "payload.feature not one of assistant/search/graphrag/other",
            ),
            (
                p["prompt_tokens"].integer_between(0),
                "payload.prompt_tokens must be an integer >= 0",
            ),
            (
                p["completion_tokens"].integer_between(0),
                "payload.completion_tokens must be an integer >= 0",
            ),
            (p["latency_ms"].number_at_least(0), "payload.latency_ms must be a number >= 0"),
            (p["cost_usd"].number_at_least(0), "payload.cost_usd must be a number >= 0"),
            (p["status"].one_of(ev.AI_STATUSES), "payload.status must be ok/error/timeout"),
        ]
    if event_type == "user.signup":
        return [
            (p["plan"].one_of(ev.PLANS), "payload.plan must be free/pro/enterprise"),
            (
                p["country"].is_string & p["country"].get("string").rlike("^[A-Z]{2}$"),
                "payload.country must be two upper-case letters",
            ),
            (
                p["email"].is_string & p["email"].get("string").contains("@"),
                "payload.email must be a string containing @",
            ),
            (p["channel"].optional(p["channel"].is_string), "payload.channel must be a string"),
        ]
    if event_type == "user.login":
        return [
            (
                p["auth_method"].one_of(ev.AUTH_METHODS),
                "payload.auth_method must be password/sso/oauth",
            ),
            (p["device"].one_of(ev.DEVICES), "payload.device must be web/ios/android"),
            (p["ip"].optional(p["ip"].is_string), "payload.ip must be a string"),
        ]
    if event_type == "project.created":
        return [
            (p["project_id"].is_non_blank_string, "payload.project_id must be a non-empty string"),
            (p["template"].optional(p["template"].is_string), "payload.template must be a string"),
        ]
    if event_type == "billing.invoice_paid":
        return [
            (p["invoice_id"].is_non_blank_string, "payload.invoice_id must be a non-empty string"),
            (p["amount_cents"].integer_between(1), "payload.amount_cents must be an integer > 0"),
            (p["currency"].one_of(ev.CURRENCIES), "payload.currency must be USD/EUR/GBP"),
        ]
    raise ValueError(f"no payload rules for {event_type}")


def _first_failure(checks: list[tuple[Column, str]]) -> Column:
    """The message of the first rule that does not hold, or null."""
    result = F.lit(None).cast("string")
    for holds, message in reversed(checks):
        result = F.when(~F.coalesce(holds, F.lit(False)), F.lit(message)).otherwise(result)
    return result


def _occurred_at_micros() -> Column:
    """occurred_at as UTC epoch microseconds, null unless it matches the contract's format."""
    text = ENVELOPE["occurred_at"].get("string")
    part = lambda i: F.regexp_extract(text, TIMESTAMP_PATTERN, i)  # noqa: E731
    matches = text.rlike(TIMESTAMP_PATTERN)
    local = F.try_to_timestamp(F.concat_ws(" ", part(1), part(2)), F.lit("yyyy-MM-dd HH:mm:ss"))
    fraction = F.when(part(3) != "", F.rpad(part(3), 6, "0").cast("bigint")).otherwise(F.lit(0))
    off_hours, off_minutes = part(6), part(7)
    sign = F.when(part(5) == "-", F.lit(-1)).otherwise(F.lit(1))
    offset_ok = (part(4) == "Z") | ((off_hours.cast("int") <= 23) & (off_minutes.cast("int") <= 59))
    offset_micros = F.when(part(4) == "Z", F.lit(0)).otherwise(
        sign * (off_hours.cast("bigint") * 3600 + off_minutes.cast("bigint") * 60) * 1_000_000
    )
    micros = F.unix_micros(local) + fraction - offset_micros
    return F.when(matches & offset_ok & local.isNotNull(), micros)


def validate_events(bronze: DataFrame) -> DataFrame:
    """Apply rules 1-8 to bronze rows (`ingest_date`, `raw`, ...); keep every input column.

    Adds `reason` (null = valid), `detail`, the envelope fields and every converted payload
    field any silver table needs (`p_<name>` columns; silver projects its own).
    """
    parsed = bronze.withColumn("_v", F.expr("try_parse_json(raw)")).withColumn(
        "_is_object",
        F.col("_v").isNotNull()
        & F.col("raw").rlike(r"^[ \t\r\n]*\{")
        & F.col("raw").rlike(r"\}[ \t\r\n]*$"),
    )
    typed = parsed.select("*", *[f.type_column().alias(f.type_name) for f in ALL_FIELDS])
    return _apply_rules(typed).drop("_v")


def _apply_rules(typed: DataFrame) -> DataFrame:
    """Evaluate the rules in stages (each stage a projection) to keep generated code small."""
    e = ENVELOPE
    event_type = e["event_type"].get("string")
    version = F.when(e["event_version"].absent, F.lit(1)).otherwise(
        e["event_version"].get("bigint")
    )
    staged = typed.withColumns(
        {"_event_type": event_type, "_version": version, "_micros": _occurred_at_micros()}
    )
    event_type, version, micros = F.col("_event_type"), F.col("_version"), F.col("_micros")

    version_ok = F.lit(False)
    for name, versions in ev.SUPPORTED_VERSIONS.items():
        version_ok = version_ok | ((event_type == name) & version.isin(*versions))
    version_ok = (e["event_version"].absent | e["event_version"].is_integer) & version_ok

    earliest = F.unix_micros(F.lit(ev.EARLIEST_OCCURRED_AT).cast("timestamp"))
    next_day = F.unix_micros(F.date_add(F.col("ingest_date"), 1).cast("timestamp"))

    user_ok = e["user_id"].optional(e["user_id"].is_non_blank_string)
    user_required = event_type.isin(*[t for t, required in ev.USER_ID_REQUIRED.items() if required])
    payload_detail = F.when(
        user_required & e["user_id"].absent, F.lit("user_id is required for this event type")
    ).when(~user_ok, F.lit("user_id must be a non-empty string"))
    payload_detail = payload_detail.when(
        ~PAYLOAD_ROOT.is_object, F.lit("payload must be a JSON object")
    )
    for name in ev.EVENT_TABLES:
        payload_detail = payload_detail.when(
            event_type == name, _first_failure(_payload_rules(name, version))
        )
    staged = staged.withColumn("_payload_detail", payload_detail)

    def shown(path: str) -> Column:
        return F.coalesce(F.to_json(F.expr(f"variant_get(_v, '{path}')")), F.lit("absent"))

    checks = [
        ("malformed_json", F.col("_is_object"), F.lit("line is not a JSON object")),
        (
            "missing_event_id",
            e["event_id"].is_non_blank_string,
            F.lit("event_id absent, not a string or empty"),
        ),
        (
            "unknown_event_type",
            e["event_type"].one_of(tuple(ev.EVENT_TABLES)),
            F.concat(F.lit("event_type not one of the six types: "), shown("$.event_type")),
        ),
        (
            "unsupported_version",
            version_ok,
            F.concat(
                F.lit("event_version not supported for this type: "), shown("$.event_version")
            ),
        ),
        (
            "invalid_timestamp",
            micros.isNotNull() & (micros >= earliest),
            F.concat(
                F.lit("occurred_at absent, unparseable, without offset or before 2020: "),
                shown("$.occurred_at"),
            ),
        ),
        (
            "future_timestamp",
            micros < next_day,
            F.concat(
                F.lit("occurred_at on or after the day after ingest_date: "), shown("$.occurred_at")
            ),
        ),
        (
            "missing_tenant_id",
            e["tenant_id"].is_non_blank_string,
            F.lit("tenant_id absent, not a string or empty"),
        ),
        ("invalid_payload", F.col("_payload_detail").isNull(), F.col("_payload_detail")),
    ]
    staged = staged.withColumns(
        {f"_ok_{code}": F.coalesce(holds, F.lit(False)) for code, holds, _ in checks}
    )
    reason = F.lit(None).cast("string")
    detail = F.lit(None).cast("string")
    for code, _, message in reversed(checks):
        failed = ~F.col(f"_ok_{code}")
        reason = F.when(failed, F.lit(code)).otherwise(reason)
        detail = F.when(failed, message).otherwise(detail)
    staged = staged.withColumns({"reason": reason, "detail": detail})
    return _converted(staged)


def _converted(staged: DataFrame) -> DataFrame:
    """The envelope and payload fields converted to the silver types (§5)."""
    e = ENVELOPE
    event_type, version, micros = F.col("_event_type"), F.col("_version"), F.col("_micros")
    occurred_at = F.timestamp_micros(micros)
    p = PAYLOAD
    v2 = version == 2
    keep = [c for c in staged.columns if not c.startswith("_") and c not in ("reason", "detail")]
    return staged.select(
        *keep,
        "reason",
        "detail",
        "_v",
        F.when(e["event_id"].is_string, e["event_id"].get("string")).alias("event_id"),
        F.when(e["event_type"].is_string, event_type).alias("event_type"),
        version.cast("int").alias("event_version"),
        e["tenant_id"].get("string").alias("tenant_id"),
        F.when(e["user_id"].is_string, e["user_id"].get("string")).alias("user_id"),
        occurred_at.alias("occurred_at"),
        F.to_date(occurred_at).alias("event_date"),
        p["method"].get("string").alias("p_method"),
        p["route"].get("string").alias("p_route"),
        p["api_version"].get("string").alias("p_api_version"),
        p["status_code"].get("int").alias("p_status_code"),
        F.when(v2, p["duration_ms"].get("double"))
        .otherwise(p["latency_ms"].get("double"))
        .alias("p_latency_ms"),
        p["tier"].get("string").alias("p_tier"),
        F.coalesce(p["throttled"].get("boolean"), F.lit(False)).alias("p_throttled"),
        F.when(v2, p["region"].get("string")).alias("p_region"),
        p["model"].get("string").alias("p_model"),
        p["feature"].get("string").alias("p_feature"),
        p["prompt_tokens"].get("bigint").alias("p_prompt_tokens"),
        p["completion_tokens"].get("bigint").alias("p_completion_tokens"),
        p["cost_usd"].get("double").alias("p_cost_usd"),
        p["status"].get("string").alias("p_status"),
        p["plan"].get("string").alias("p_plan"),
        p["country"].get("string").alias("p_country"),
        F.sha2(
            F.lower(F.regexp_replace(p["email"].get("string"), r"^(?U)\s+|(?U)\s+$", "")), 256
        ).alias("p_email_sha256"),
        p["channel"].get("string").alias("p_channel"),
        p["auth_method"].get("string").alias("p_auth_method"),
        p["device"].get("string").alias("p_device"),
        p["project_id"].get("string").alias("p_project_id"),
        F.coalesce(p["template"].get("string"), F.lit("blank")).alias("p_template"),
        p["invoice_id"].get("string").alias("p_invoice_id"),
        p["amount_cents"].get("bigint").alias("p_amount_cents"),
        p["currency"].get("string").alias("p_currency"),
    )
