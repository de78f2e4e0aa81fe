"""Gold vs silver reconciliation: totals per event_date must agree.

A single-DataFrame GX expectation cannot compare two tables, so this builds one
comparison row per event_date (`<measure>_gold`, `<measure>_silver` columns) and
validates it with the `reconcile.gold_silver` suite (column-pair equality per measure),
so the outcome is an ordinary GX result with Data Docs like every other suite.

Pass whole tables (or the same event_date range of each): first signups are found
over all the silver signups given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from expectations.build_suites import RECONCILED_MEASURES
from expectations.suites import SuiteResult, validate

SUITE = "reconcile.gold_silver"


def _per_date(df: DataFrame, **measures: Column) -> DataFrame:
    return df.groupBy("event_date").agg(*(col.alias(name) for name, col in measures.items()))


def _gold_totals(gold: Mapping[str, DataFrame]) -> list[DataFrame]:
    tokens = F.col("prompt_tokens") + F.col("completion_tokens")
    return [
        _per_date(
            gold["api_usage_daily"],
            api_requests_gold=F.sum("requests"),
            api_errors_gold=F.sum(F.col("client_errors") + F.col("server_errors")),
        ),
        _per_date(
            gold["ai_usage_daily"], ai_requests_gold=F.sum("requests"), ai_tokens_gold=F.sum(tokens)
        ),
        _per_date(
            gold["revenue_daily"],
            invoices_gold=F.sum("invoices"),
            amount_cents_gold=F.sum("amount_cents"),
        ),
        _per_date(gold["signups_daily"], signups_gold=F.sum("signups")),
        _per_date(gold["daily_active_users"], active_users_gold=F.sum("dau")),
    ]


def _silver_totals(silver: Mapping[str, DataFrame]) -> list[DataFrame]:
    tokens = F.col("prompt_tokens") + F.col("completion_tokens")
    is_error = F.col("status_code").between(400, 599)
    # A user's first signup: smallest occurred_at, then smallest event_id (§5).
    first_signups = (
        silver["signups"]
        .where(F.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(F.min_by("event_date", F.struct("occurred_at", "event_id")).alias("event_date"))
    )
    active = reduce(
        DataFrame.unionByName,
        [
            silver[t].select("event_date", "tenant_id", "user_id")
            for t in ("api_requests", "ai_completions", "logins")
        ],
    )
    active = active.where(F.col("user_id").isNotNull() & F.col("tenant_id").isNotNull()).distinct()
    return [
        _per_date(
            silver["api_requests"],
            api_requests_silver=F.count("*"),
            api_errors_silver=F.count_if(is_error),
        ),
        _per_date(
            silver["ai_completions"],
            ai_requests_silver=F.count("*"),
            ai_tokens_silver=F.sum(tokens),
        ),
        _per_date(
            silver["invoices"],
            invoices_silver=F.count("*"),
            amount_cents_silver=F.sum("amount_cents"),
        ),
        _per_date(first_signups, signups_silver=F.count("*")),
        _per_date(active, active_users_silver=F.count("*")),
    ]


def comparison_frame(silver: Mapping[str, DataFrame], gold: Mapping[str, DataFrame]) -> DataFrame:
    """One row per event_date seen on either side; a measure missing on one side is 0."""
    frames = _gold_totals(gold) + _silver_totals(silver)
    # Stack the per-date totals (each frame fills its own columns) and fold them per date:
    # one shuffle instead of a chain of full outer joins.
    stacked = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    columns = [f"{m}_{side}" for m in RECONCILED_MEASURES for side in ("gold", "silver")]
    totals = (F.coalesce(F.sum(c), F.lit(0)).cast("long").alias(c) for c in columns)
    return stacked.groupBy("event_date").agg(*totals)


def reconcile_gold_with_silver(
    silver: Mapping[str, DataFrame],
    gold: Mapping[str, DataFrame],
    data_docs_dir: str | None = None,
    event_dates: Iterable[date] | None = None,
) -> SuiteResult:
    """Validate gold totals against silver with the `reconcile.gold_silver` suite.

    `silver` needs api_requests, ai_completions, invoices, signups and logins;
    `gold` needs all five gold tables (keys as in schemas.tables). With `event_dates`, only
    those dates are compared: the filter on the grouping column reaches the scans, so Delta
    reads only those partitions (first signups still look at every signup, two columns).
    """
    comparison = comparison_frame(silver, gold)
    if event_dates is not None:
        comparison = comparison.where(F.col("event_date").isin(sorted(set(event_dates))))
    # One row per date: collect it once, so GX's many small jobs don't each redo the aggregations.
    small = comparison.sparkSession.createDataFrame(comparison.collect(), comparison.schema)
    return validate(small, SUITE, data_docs_dir)
