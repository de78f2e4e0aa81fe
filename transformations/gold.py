"""Gold tables (data contract §5) as pure DataFrame → DataFrame functions.

Every builder takes the silver DataFrames it needs and an optional collection of target
event dates: with dates, only those dates' rows are computed, and the inputs may already
be cut down to what `required_event_dates` says those dates need. No I/O happens here;
`pipelines.gold` reads silver, calls these and writes the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from schemas.tables import GOLD

WAU_DAYS = 7
MAU_DAYS = 28

# How many days before a gold date its silver inputs reach (mau: [d-27, d]).
LOOKBACK_DAYS: dict[str, int] = {name: 0 for name in GOLD} | {"daily_active_users": MAU_DAYS - 1}

# The silver tables each gold table reads.
GOLD_INPUTS: dict[str, tuple[str, ...]] = {
    "daily_active_users": ("api_requests", "ai_completions", "logins"),
    "api_usage_daily": ("api_requests",),
    "ai_usage_daily": ("ai_completions",),
    "revenue_daily": ("invoices",),
    "signups_daily": ("signups",),
}


# --- which dates ------------------------------------------------------------------------


def required_event_dates(table: str, target_dates: Iterable[date]) -> set[date]:
    """Silver event dates needed to compute `table` for `target_dates`.

    signups_daily also needs each affected user's earlier signups (first-signup rule),
    which no date range bounds; see `signups_daily`.
    """
    reach = LOOKBACK_DAYS[table]
    return {d - timedelta(days=k) for d in target_dates for k in range(reach + 1)}


def affected_gold_dates(
    table: str, changed_event_dates: Iterable[date], max_date: date | None = None
) -> set[date]:
    """Gold dates of `table` whose rows can change when silver changed on these event dates.

    A change on day c reaches forward: mau on c..c+27. `max_date` caps the result (no
    gold row can exist after the last event date). signups_daily may also move a user's
    first signup away from another date: add `signups_moved_dates`.
    """
    reach = LOOKBACK_DAYS[table]
    dates = {c + timedelta(days=k) for c in changed_event_dates for k in range(reach + 1)}
    if max_date is not None:
        # Changed dates themselves stay: their rows may have to be deleted.
        dates = {d for d in dates if d <= max_date} | set(changed_event_dates)
    return dates


def signups_moved_dates(signups: DataFrame, changed_event_dates: Iterable[date]) -> DataFrame:
    """Other dates whose signups_daily rows can change when signups changed on these dates.

    For every user with a signup on a changed date, their earliest signup on an unchanged
    date: if the changed rows are (or were) earlier, the user's first signup moved from
    there. `signups` must hold those users' whole signup history. Column: event_date.
    """
    changed = sorted(set(changed_event_dates))
    users = signups.where(_on_dates("event_date", changed)).select("user_id").distinct()
    return (
        signups.where(F.col("user_id").isNotNull() & ~_on_dates("event_date", changed))
        .join(users, "user_id", "left_semi")
        .groupBy("user_id")
        .agg(F.min("event_date").alias("event_date"))
        .select("event_date")
        .distinct()
    )


# --- builders ----------------------------------------------------------------------------


def daily_active_users(
    api_requests: DataFrame,
    ai_completions: DataFrame,
    logins: DataFrame,
    dates: Iterable[date] | None = None,
) -> DataFrame:
    """gold/daily_active_users: distinct active users per (day, tenant) over 1, 7, 28 days."""
    active = (
        _activity(api_requests)
        .unionByName(_activity(ai_completions))
        .unionByName(_activity(logins))
        .distinct()
    )
    # Each active (user, tenant, day) counts towards the 28 days starting that day; its
    # smallest age on a day says whether it is in that day's dau (0) and wau (< 7).
    spread = active.select(
        "tenant_id",
        "user_id",
        F.explode(F.sequence(F.lit(0), F.lit(MAU_DAYS - 1))).alias("age"),
        "event_date",
    ).select(
        F.date_add("event_date", F.col("age")).alias("event_date"), "tenant_id", "user_id", "age"
    )
    if dates is not None:
        spread = spread.where(_on_dates("event_date", dates))
    per_user = spread.groupBy("event_date", "tenant_id", "user_id").agg(F.min("age").alias("age"))
    out = (
        per_user.groupBy("event_date", "tenant_id")
        .agg(
            F.count_if(F.col("age") == 0).alias("dau"),
            F.count_if(F.col("age") < WAU_DAYS).alias("wau"),
            F.count("*").alias("mau"),
        )
        .where(F.col("dau") >= 1)
    )
    return conform(out, GOLD["daily_active_users"])


def api_usage_daily(api_requests: DataFrame, dates: Iterable[date] | None = None) -> DataFrame:
    """gold/api_usage_daily: requests, errors, throttling and exact latency percentiles."""
    status = F.col("status_code")
    latency = F.percentile("latency_ms", [0.5, 0.95, 0.99])
    out = (
        _filter_dates(api_requests, dates)
        .groupBy("event_date", "tenant_id", "api_version")
        .agg(
            F.count("*").alias("requests"),
            F.count_if(status.between(400, 499)).alias("client_errors"),
            F.count_if(status.between(500, 599)).alias("server_errors"),
            F.count_if(F.col("throttled")).alias("throttled"),
            latency.alias("p"),
        )
        .withColumns(
            {
                "p50_latency_ms": F.col("p")[0],
                "p95_latency_ms": F.col("p")[1],
                "p99_latency_ms": F.col("p")[2],
            }
        )
    )
    return conform(out, GOLD["api_usage_daily"])


def ai_usage_daily(ai_completions: DataFrame, dates: Iterable[date] | None = None) -> DataFrame:
    """gold/ai_usage_daily: requests, failures, tokens, cost and p95 latency per model."""
    out = (
        _filter_dates(ai_completions, dates)
        .groupBy("event_date", "tenant_id", "model")
        .agg(
            F.count("*").alias("requests"),
            F.count_if(~F.col("status").eqNullSafe("ok")).alias("failed"),
            F.sum("prompt_tokens").alias("prompt_tokens"),
            F.sum("completion_tokens").alias("completion_tokens"),
            F.sum("cost_usd").alias("cost_usd"),
            F.percentile("latency_ms", 0.95).alias("p95_latency_ms"),
        )
    )
    return conform(out, GOLD["ai_usage_daily"])


def revenue_daily(invoices: DataFrame, dates: Iterable[date] | None = None) -> DataFrame:
    """gold/revenue_daily: paid invoices and their amount per (day, tenant, currency)."""
    out = (
        _filter_dates(invoices, dates)
        .groupBy("event_date", "tenant_id", "currency")
        .agg(F.count("*").alias("invoices"), F.sum("amount_cents").alias("amount_cents"))
    )
    return conform(out, GOLD["revenue_daily"])


def signups_daily(signups: DataFrame, dates: Iterable[date] | None = None) -> DataFrame:
    """gold/signups_daily: users whose first signup falls on the day, by its plan and country.

    With `dates`, `signups` must hold the whole signup history of every user with a
    signup on one of them (an earlier signup elsewhere means theirs is not a first).
    """
    first = first_signups(signups)
    if dates is not None:
        first = first.where(_on_dates("event_date", dates))
    out = first.groupBy("event_date", "plan", "country").agg(F.count("*").alias("signups"))
    return conform(out, GOLD["signups_daily"])


def signup_history(signups: DataFrame, event_dates: Iterable[date]) -> DataFrame:
    """What `signups_daily` needs for these event dates: the first-signup rule looks at
    the whole signup history (up to the last of them) of the users who signed up on them,
    not just at these dates."""
    dates = sorted(set(event_dates))
    users = signups.where(F.col("event_date").isin(dates)).select("user_id").distinct()
    history = signups.where(F.col("event_date") <= dates[-1])
    return history.join(users, "user_id", "left_semi")


def first_signups(signups: DataFrame) -> DataFrame:
    """Each user's first signup: smallest occurred_at, ties broken by smallest event_id.

    Columns: user_id, occurred_at, event_id, event_date, tenant_id, plan, country.
    """
    # min() of a struct compares field by field, so this picks the row without a window.
    first = F.min(F.struct("occurred_at", "event_id", "event_date", "tenant_id", "plan", "country"))
    return (
        signups.where(F.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(first.alias("first"))
        .select("user_id", "first.*")
    )


# --- helpers -----------------------------------------------------------------------------


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Exactly the schema's columns, in order, with its types."""
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _activity(df: DataFrame) -> DataFrame:
    return df.select("event_date", "tenant_id", "user_id").where(
        F.col("user_id").isNotNull() & F.col("tenant_id").isNotNull()
    )


def _on_dates(column: str, dates: Iterable[date]) -> Column:
    values = sorted(set(dates))
    return F.col(column).isin(values) if values else F.lit(False)


def _filter_dates(df: DataFrame, dates: Iterable[date] | None) -> DataFrame:
    return df if dates is None else df.where(_on_dates("event_date", dates))
