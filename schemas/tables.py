"""Spark schemas of every lakehouse table, in the contract's column order (§5)."""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _schema(*columns: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, dtype, nullable=True) for name, dtype in columns])


BRONZE_EVENTS = _schema(
    ("ingest_date", DateType()),
    ("source_file", StringType()),
    ("line_number", LongType()),
    ("raw", StringType()),
    ("ingested_at", TimestampType()),
)

QUARANTINE_EVENTS = _schema(
    ("ingest_date", DateType()),
    ("source_file", StringType()),
    ("line_number", LongType()),
    ("raw", StringType()),
    ("reason", StringType()),
    ("detail", StringType()),
    ("event_id", StringType()),
    ("event_type", StringType()),
)

# Columns every silver table starts with.
SILVER_COMMON: tuple[tuple[str, DataType], ...] = (
    ("event_id", StringType()),
    ("tenant_id", StringType()),
    ("user_id", StringType()),
    ("occurred_at", TimestampType()),
    ("event_date", DateType()),
    ("ingest_date", DateType()),
    ("event_version", IntegerType()),
)

# Payload columns per silver table, after conversion.
SILVER_PAYLOAD: dict[str, tuple[tuple[str, DataType], ...]] = {
    "api_requests": (
        ("method", StringType()),
        ("route", StringType()),
        ("api_version", StringType()),
        ("status_code", IntegerType()),
        ("latency_ms", DoubleType()),
        ("tier", StringType()),
        ("throttled", BooleanType()),
        ("region", StringType()),
    ),
    "ai_completions": (
        ("model", StringType()),
        ("feature", StringType()),
        ("prompt_tokens", LongType()),
        ("completion_tokens", LongType()),
        ("latency_ms", DoubleType()),
        ("cost_usd", DoubleType()),
        ("status", StringType()),
    ),
    "signups": (
        ("plan", StringType()),
        ("country", StringType()),
        ("email_sha256", StringType()),
        ("channel", StringType()),
    ),
    "logins": (
        ("auth_method", StringType()),
        ("device", StringType()),
    ),
    "projects": (
        ("project_id", StringType()),
        ("template", StringType()),
    ),
    "invoices": (
        ("invoice_id", StringType()),
        ("amount_cents", LongType()),
        ("currency", StringType()),
    ),
}

SILVER: dict[str, StructType] = {
    table: _schema(*SILVER_COMMON, *payload) for table, payload in SILVER_PAYLOAD.items()
}

GOLD: dict[str, StructType] = {
    "daily_active_users": _schema(
        ("event_date", DateType()),
        ("tenant_id", StringType()),
        ("dau", LongType()),
        ("wau", LongType()),
        ("mau", LongType()),
    ),
    "api_usage_daily": _schema(
        ("event_date", DateType()),
        ("tenant_id", StringType()),
        ("api_version", StringType()),
        ("requests", LongType()),
        ("client_errors", LongType()),
        ("server_errors", LongType()),
        ("throttled", LongType()),
        ("p50_latency_ms", DoubleType()),
        ("p95_latency_ms", DoubleType()),
        ("p99_latency_ms", DoubleType()),
    ),
    "ai_usage_daily": _schema(
        ("event_date", DateType()),
        ("tenant_id", StringType()),
        ("model", StringType()),
        ("requests", LongType()),
        ("failed", LongType()),
        ("prompt_tokens", LongType()),
        ("completion_tokens", LongType()),
        ("cost_usd", DoubleType()),
        ("p95_latency_ms", DoubleType()),
    ),
    "revenue_daily": _schema(
        ("event_date", DateType()),
        ("tenant_id", StringType()),
        ("currency", StringType()),
        ("invoices", LongType()),
        ("amount_cents", LongType()),
    ),
    "signups_daily": _schema(
        ("event_date", DateType()),
        ("plan", StringType()),
        ("country", StringType()),
        ("signups", LongType()),
    ),
}

USER_FEATURES = _schema(
    ("as_of_date", DateType()),
    ("user_id", StringType()),
    ("tenant_id", StringType()),
    ("plan", StringType()),
    ("country", StringType()),
    ("days_since_signup", IntegerType()),
    ("logins_7d", LongType()),
    ("logins_28d", LongType()),
    ("distinct_devices_28d", LongType()),
    ("days_since_last_login", IntegerType()),
    ("api_requests_7d", LongType()),
    ("ai_requests_7d", LongType()),
    ("ai_tokens_28d", LongType()),
    ("ai_cost_28d", DoubleType()),
)

# Table locations relative to the lakehouse root.
BRONZE_TABLE = "bronze/events"
QUARANTINE_TABLE = "quarantine/events"
SILVER_TABLES = {name: f"silver/{name}" for name in SILVER}
GOLD_TABLES = {name: f"gold/{name}" for name in GOLD}
FEATURES_TABLE = "features/user_features"

# The lakehouse's own bookkeeping, under `_internal/` (not for consumers).
VALIDATED_TABLE = "_internal/validated_events"  # rule 1-8 outcome of every bronze record
INGEST_LOG_TABLE = "_internal/ingest_log"  # the §4 gate of each ingest date, as last run
PENDING_TABLE = "_internal/pending_event_dates"  # changed event dates between job tasks
AUDIT_TABLE = "_internal/erasure_audit"  # GDPR erasures, by salted subject hash
SCRATCH_DIR = "_internal/tmp"  # scratch tables of runs before local checkpoints (maintenance skips)

# One record: one line of one landing file (bronze, quarantine and dedup ties use it).
RECORD_KEY = ("ingest_date", "source_file", "line_number")

INGEST_LOG = _schema(
    ("ingest_date", DateType()),
    ("records", LongType()),
    ("failed", LongType()),
    ("failed_share", DoubleType()),
    ("gate_threshold", DoubleType()),
    ("gate_passed", BooleanType()),
    ("top_reasons", StringType()),
    ("files_fingerprint", StringType()),
    ("processed_at", StringType()),
)
PENDING = _schema(("consumer", StringType()), ("event_date", DateType()), ("batch", StringType()))

# One row per run, whatever launched it (pipelines/ledger.py). Plain types only, so
# delta-rs, Power BI and ADX read it: arrays of structs, no maps, no column mapping.
RUNS_TABLE = "_internal/runs"
RUNS = _schema(
    ("run_id", StringType()),
    ("launcher", StringType()),  # cli | dagster | databricks | erasure | maintenance | bench
    ("ingest_dates", ArrayType(DateType())),
    ("started_at", TimestampType()),
    ("ended_at", TimestampType()),
    ("status", StringType()),  # succeeded | gate_failed | check_failed | step_failed
    (
        "steps",
        ArrayType(
            _schema(
                ("name", StringType()),
                ("seconds", DoubleType()),
                ("rows_read", LongType()),
                ("rows_written", LongType()),
                ("status", StringType()),  # succeeded | failed | skipped
            )
        ),
    ),
    (
        "gates",
        ArrayType(
            _schema(
                ("ingest_date", DateType()),
                ("records", LongType()),
                ("failed", LongType()),
                ("failed_share", DoubleType()),
                ("gate_passed", BooleanType()),
                ("top_reasons", StringType()),
            )
        ),
    ),
    (
        "checks",
        ArrayType(
            _schema(
                ("name", StringType()),
                ("target", StringType()),
                ("passed", BooleanType()),
                ("blocking", BooleanType()),
                ("description", StringType()),
            )
        ),
    ),
    ("error", StringType()),
)
