"""features/user_features (data contract §5) as pure DataFrame → DataFrame functions.

One row per (user with a first signup, as_of_date) from the first signup's event_date
through the greatest event_date in any silver table. Windows are by event_date: an
n-day window is [as_of_date - (n-1), as_of_date]; counts are over the user's rows by
user_id in every tenant.

`user_features` computes from whole silver tables. The pieces it is made of
(`first_signups`, `feature_keys`, `compute_features`) also let `pipelines.features`
recompute a few rows from a slice of silver plus state carried over from older rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from schemas.tables import USER_FEATURES
from transformations.gold import conform, first_signups

SHORT_DAYS = 7
LONG_DAYS = 28

FEATURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in USER_FEATURES.fields)

__all__ = [
    "FEATURE_COLUMNS",
    "compute_features",
    "feature_keys",
    "first_signups",
    "required_event_range",
    "user_features",
]


def required_event_range(as_of_dates: Iterable[date]) -> tuple[date, date]:
    """The event_date range the windows of these as_of_dates read (last login reaches
    further back: pass `prior_last_login` to `compute_features` for what lies before)."""
    dates = sorted(set(as_of_dates))
    return dates[0] - timedelta(days=LONG_DAYS - 1), dates[-1]


def user_features(
    signups: DataFrame,
    logins: DataFrame,
    api_requests: DataFrame,
    ai_completions: DataFrame,
    max_event_date: date,
    as_of_dates: Iterable[date] | None = None,
    users: Iterable[str] | DataFrame | None = None,
) -> DataFrame:
    """features/user_features from whole silver tables.

    `max_event_date` is the greatest event_date in ANY silver table (also projects and
    invoices), so the caller supplies it. `as_of_dates` and `users` restrict the rows.
    """
    first = first_signups(signups)
    if isinstance(users, DataFrame):
        first = first.join(users.select("user_id").distinct(), "user_id", "left_semi")
    elif users is not None:
        first = first.where(F.col("user_id").isin(sorted(set(users))))
    keys = feature_keys(first, max_event_date, as_of_dates)
    return compute_features(keys, first, logins, api_requests, ai_completions)


def feature_keys(
    first: DataFrame,
    max_event_date: date,
    as_of_dates: Iterable[date] | None = None,
    start: date | None = None,
) -> DataFrame:
    """(user_id, as_of_date) from each user's first signup date (`event_date` of `first`)
    through max_event_date, optionally only `as_of_dates` and only from `start` on."""
    lo = F.col("event_date")
    if start is not None:
        lo = F.greatest(lo, F.lit(start))
    hi = F.lit(max_event_date)
    if as_of_dates is not None:
        dates = sorted(set(as_of_dates))
        if not dates:
            return first.select("user_id", F.lit(None).cast("date").alias("as_of_date")).limit(0)
        candidates = F.explode(F.array(*[F.lit(d) for d in dates]))
        return (
            first.select("user_id", lo.alias("lo"), candidates.alias("as_of_date"))
            .where(F.col("as_of_date").between(F.col("lo"), hi))
            .select("user_id", "as_of_date")
        )
    # sequence() counts down when start > stop, so drop empty ranges first.
    return (
        first.select("user_id", lo.alias("lo"))
        .where(F.col("lo") <= hi)
        .select("user_id", F.explode(F.sequence(F.col("lo"), hi)).alias("as_of_date"))
    )


def compute_features(
    keys: DataFrame,
    first: DataFrame,
    logins: DataFrame,
    api_requests: DataFrame,
    ai_completions: DataFrame,
    prior_last_login: DataFrame | None = None,
) -> DataFrame:
    """Feature rows for `keys` (user_id, as_of_date).

    `first` is one row per user (user_id, event_date, tenant_id, plan, country) of the
    first signup. The activity inputs must cover every event_date in the keys' 28-day
    windows; last login also looks at every earlier login in `logins`, and at
    `prior_last_login` (user_id, last_login_date): the latest login before `logins`
    starts, for callers that pass only a slice of silver/logins.
    """
    key_rows = keys.select(
        "user_id",
        F.col("as_of_date").alias("day"),
        F.lit(True).alias("is_key"),
        *[F.lit(0).cast("long").alias(c) for c in ("logins", "api", "ai", "tokens")],
        F.lit(0.0).alias("cost"),
        F.lit(None).cast("array<string>").alias("devices"),
    )
    activity = _daily_activity(logins, api_requests, ai_completions).join(
        keys.select("user_id").distinct(), "user_id", "left_semi"
    )
    rows = activity.withColumn("is_key", F.lit(False)).unionByName(key_rows)

    # Range frames over the day number: same-day rows are peers, so a key row sees all of
    # its own day's activity, and gaps between days cost nothing.
    by_user = Window.partitionBy("user_id").orderBy(F.unix_date("day"))
    short = by_user.rangeBetween(-(SHORT_DAYS - 1), 0)
    long = by_user.rangeBetween(-(LONG_DAYS - 1), 0)
    ever = by_user.rangeBetween(Window.unboundedPreceding, 0)
    login_day = F.when(F.col("logins") > 0, F.col("day"))
    rolled = rows.select(
        "user_id",
        "day",
        "is_key",
        F.sum("logins").over(short).alias("logins_7d"),
        F.sum("logins").over(long).alias("logins_28d"),
        F.size(F.array_distinct(F.flatten(F.collect_list("devices").over(long)))).alias(
            "distinct_devices_28d"
        ),
        F.max(login_day).over(ever).alias("last_login"),
        F.sum("api").over(short).alias("api_requests_7d"),
        F.sum("ai").over(short).alias("ai_requests_7d"),
        F.sum("tokens").over(long).alias("ai_tokens_28d"),
        F.sum("cost").over(long).alias("ai_cost_28d"),
    ).where("is_key")

    last_login: Column = F.col("last_login")
    if prior_last_login is not None:
        rolled = rolled.join(
            prior_last_login.select("user_id", "last_login_date"), "user_id", "left"
        )
        last_login = F.greatest("last_login", "last_login_date")  # greatest skips nulls
    out = rolled.join(
        first.select(
            "user_id", F.col("event_date").alias("first_date"), "tenant_id", "plan", "country"
        ),
        "user_id",
    ).select(
        F.col("day").alias("as_of_date"),
        "user_id",
        "tenant_id",
        "plan",
        "country",
        F.datediff("day", "first_date").alias("days_since_signup"),
        "logins_7d",
        "logins_28d",
        "distinct_devices_28d",
        F.datediff("day", last_login).alias("days_since_last_login"),
        "api_requests_7d",
        "ai_requests_7d",
        "ai_tokens_28d",
        "ai_cost_28d",
    )
    return conform(out, USER_FEATURES)


def _daily_activity(logins: DataFrame, api_requests: DataFrame, ai: DataFrame) -> DataFrame:
    """Per (user, day) counts of each source; one row per source that had any."""

    def by_day(df: DataFrame, *aggs: Column) -> DataFrame:
        return (
            df.where(F.col("user_id").isNotNull())
            .groupBy("user_id", F.col("event_date").alias("day"))
            .agg(*aggs)
        )

    parts = [
        by_day(logins, F.count("*").alias("logins"), F.collect_set("device").alias("devices")),
        by_day(api_requests, F.count("*").alias("api")),
        by_day(
            ai,
            F.count("*").alias("ai"),
            F.sum(F.col("prompt_tokens") + F.col("completion_tokens")).alias("tokens"),
            F.sum("cost_usd").alias("cost"),
        ),
    ]
    daily = parts[0].unionByName(parts[1], allowMissingColumns=True)
    daily = daily.unionByName(parts[2], allowMissingColumns=True)
    return daily.select(
        "user_id",
        "day",
        *[F.coalesce(c, F.lit(0)).cast("long").alias(c) for c in ("logins", "api", "ai", "tokens")],
        F.coalesce("cost", F.lit(0.0)).alias("cost"),
        "devices",
    )
