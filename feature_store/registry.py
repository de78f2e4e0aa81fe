"""The feature registry: every feature of features/user_features, described once.

Training sets, the generated docs (docs/features.md) and the tests read this list; a
test keeps it in step with `schemas.tables.USER_FEATURES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.tables import FEATURES_TABLE

ENTITY = "user"
ENTITY_KEY = "user_id"
TIME_KEY = "as_of_date"
TABLE = FEATURES_TABLE


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    dtype: str  # Spark SQL type name, as in USER_FEATURES
    window: str  # the event_date range the value covers, relative to as_of_date
    sources: tuple[str, ...]  # silver tables it is computed from
    entity: str = ENTITY


_FIRST = "first signup"
_EVER = "all days up to as_of_date"
_7D = "7 days: [as_of_date - 6, as_of_date]"
_28D = "28 days: [as_of_date - 27, as_of_date]"

FEATURES: tuple[Feature, ...] = (
    Feature(
        "tenant_id", "Tenant of the user's first signup.", "string", _FIRST, ("silver/signups",)
    ),
    Feature("plan", "Plan chosen at the first signup.", "string", _FIRST, ("silver/signups",)),
    Feature(
        "country",
        "Country (ISO 3166 alpha-2) given at the first signup.",
        "string",
        _FIRST,
        ("silver/signups",),
    ),
    Feature(
        "days_since_signup",
        "Days from the first signup's event_date to as_of_date (0 on the signup day).",
        "int",
        _EVER,
        ("silver/signups",),
    ),
    Feature("logins_7d", "Logins in the window.", "bigint", _7D, ("silver/logins",)),
    Feature("logins_28d", "Logins in the window.", "bigint", _28D, ("silver/logins",)),
    Feature(
        "distinct_devices_28d",
        "Distinct login devices (web, ios, android) in the window.",
        "bigint",
        _28D,
        ("silver/logins",),
    ),
    Feature(
        "days_since_last_login",
        "Days from the latest login on or before as_of_date (also before the signup); "
        "null if the user never logged in.",
        "int",
        _EVER,
        ("silver/logins",),
    ),
    Feature(
        "api_requests_7d", "API requests in the window.", "bigint", _7D, ("silver/api_requests",)
    ),
    Feature(
        "ai_requests_7d", "AI completions in the window.", "bigint", _7D, ("silver/ai_completions",)
    ),
    Feature(
        "ai_tokens_28d",
        "Prompt plus completion tokens of AI completions in the window.",
        "bigint",
        _28D,
        ("silver/ai_completions",),
    ),
    Feature(
        "ai_cost_28d",
        "Cost in USD of AI completions in the window.",
        "double",
        _28D,
        ("silver/ai_completions",),
    ),
)

_BY_NAME = {f.name: f for f in FEATURES}


def feature_names() -> list[str]:
    """Every registered feature, in table order."""
    return [f.name for f in FEATURES]


def get_feature(name: str) -> Feature:
    """The feature called `name`; KeyError names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(feature_names())
        raise KeyError(f"unknown feature {name!r}; known features: {known}") from None
