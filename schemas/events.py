"""The event contract (§2-§4): event types, enums and reason codes, in one place."""

# Reason codes in the order the rules are applied (§4); the first failing rule wins.
REASON_CODES: tuple[str, ...] = (
    "malformed_json",
    "missing_event_id",
    "unknown_event_type",
    "unsupported_version",
    "invalid_timestamp",
    "future_timestamp",
    "missing_tenant_id",
    "invalid_payload",
    "duplicate",
)

# event_type -> silver table name
EVENT_TABLES: dict[str, str] = {
    "api.request": "api_requests",
    "ai.completion": "ai_completions",
    "user.signup": "signups",
    "user.login": "logins",
    "project.created": "projects",
    "billing.invoice_paid": "invoices",
}

SUPPORTED_VERSIONS: dict[str, tuple[int, ...]] = {
    "api.request": (1, 2),
    "ai.completion": (1,),
    "user.signup": (1,),
    "user.login": (1,),
    "project.created": (1,),
    "billing.invoice_paid": (1,),
}

USER_ID_REQUIRED: dict[str, bool] = {
    "api.request": False,
    "ai.completion": True,
    "user.signup": True,
    "user.login": True,
    "project.created": True,
    "billing.invoice_paid": False,
}

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
API_VERSIONS = ("v1", "v2")
TIERS = ("free", "pro", "enterprise")
AI_FEATURES = ("assistant", "search", "graphrag", "other")
AI_STATUSES = ("ok", "error", "timeout")
PLANS = ("free", "pro", "enterprise")
AUTH_METHODS = ("password", "sso", "oauth")
DEVICES = ("web", "ios", "android")
CURRENCIES = ("USD", "EUR", "GBP")

# Earliest accepted occurred_at (rule 5).
EARLIEST_OCCURRED_AT = "2020-01-01T00:00:00Z"

DEFAULT_GATE_THRESHOLD = 0.25
