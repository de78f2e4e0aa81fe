"""Which rows of features/user_features change when silver changes, without Delta.

The table is partitioned by as_of_date. With changed event dates C, let lo be the first
date that can change: min(C), or the day after the last snapshot when only new days
arrived. Rows before lo depend only on unchanged silver, so they stay. From lo on:

* every user's rows on the dates whose 28-day windows contain a changed date
  (c .. c+27), on new dates (the greatest event_date grew) and on dropped dates (it
  shrank) are recomputed;
* so are all rows from lo on of users whose first signup is on or after lo (new users,
  changed or erased first signups: days_since_signup and the row range change) and of
  users with a login on a changed date now or before (days_since_last_login reaches
  forward until their next login).

What a recomputed row needs from before lo is read from the snapshot on lo - 1 (first
signup, last login), so silver is read only from lo - 27 on. The one exception: users
whose first signup is on or after lo have no such snapshot, and their last login before
lo is looked up in silver/logins (user_id and event_date only, for those users only).
The recomputed rows are compared with the stored ones and only the differences (new,
changed, deleted rows) are returned: `pipelines.features` writes them in one commit.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas.tables import USER_FEATURES
from transformations.features import (
    FEATURE_COLUMNS,
    LONG_DAYS,
    compute_features,
    feature_keys,
    first_signups,
)

KEYS = ("user_id", "as_of_date")
VALUES = tuple(c for c in FEATURE_COLUMNS if c not in KEYS)
# Recomputed doubles may differ from stored ones in the last bits (summation order).
DOUBLE_TOLERANCE = 1e-12


def feature_changes(
    stored: DataFrame,
    silver: dict[str, DataFrame],
    changed: set[date],
    m_old: date,
    m_new: date,
) -> DataFrame | None:
    """The rows to upsert, and the keys to delete (`_delete` true), that bring `stored`
    (user_features as of `m_old`) in step with `silver` after its event dates `changed`
    (m_new: the greatest event_date now in any silver table), with `_stored` true for the
    keys `stored` holds. None: nothing can change.
    """
    lo = min(set(changed) | {m_old + timedelta(days=1)})
    hi = max(m_new, m_old)
    if lo > hi:
        return None
    window_dates = {d for d in _window_dates(set(changed), m_old, m_new) if lo <= d <= hi}
    new, scope_users = _recompute(stored, silver, set(changed), lo, window_dates, m_old, m_new)
    replaced = _stored_scope(stored, lo, hi, window_dates, scope_users)
    return _differences(new, replaced)


def _window_dates(changed: set[date], m_old: date, m_new: date) -> set[date]:
    """as_of dates to recompute for everyone: windows holding a changed date, and the
    dates between the old and the new greatest event_date (added or dropped)."""
    dates = {c + timedelta(days=k) for c in changed for k in range(LONG_DAYS)}
    first, last = sorted((m_old, m_new))
    dates |= {first + timedelta(days=k) for k in range(1, (last - first).days + 1)}
    return dates


def _recompute(
    old: DataFrame,
    silver: dict[str, DataFrame],
    changed: set[date],
    lo: date,
    window_dates: set[date],
    m_old: date,
    m_new: date,
) -> tuple[DataFrame, DataFrame]:
    """New rows for the recomputed scope, and the users whose every row from lo is in it."""
    z = lo - timedelta(days=1)
    changed_list = sorted(changed)

    # Users who signed up before lo: their first signup and last login up to lo - 1
    # come from the (still valid) snapshot on lo - 1.
    carried = old.where(F.col("as_of_date") == F.lit(z)).select(
        "user_id",
        F.date_sub(F.lit(z), F.col("days_since_signup")).alias("event_date"),
        "tenant_id",
        "plan",
        "country",
        F.date_sub(F.lit(z), F.col("days_since_last_login")).alias("last_login_date"),
    )
    # Everyone else has every signup from lo on (earlier silver did not change).
    recent = first_signups(silver["signups"].where(F.col("event_date").between(lo, m_new))).join(
        carried.select("user_id"), "user_id", "left_anti"
    )
    first_cols = ("user_id", "event_date", "tenant_id", "plan", "country")
    first = carried.select(*first_cols).unionByName(recent.select(*first_cols))
    earlier_logins = (
        silver["logins"]
        .where((F.col("event_date") < F.lit(lo)) & F.col("user_id").isNotNull())
        .join(recent.select("user_id"), "user_id", "left_semi")
        .groupBy("user_id")
        .agg(F.max("event_date").alias("last_login_date"))
    )
    prior = carried.select("user_id", "last_login_date").unionByName(earlier_logins)

    stored_recent = old.where(
        (F.col("as_of_date") == F.lit(m_old))
        & (F.date_sub("as_of_date", F.col("days_since_signup")) >= F.lit(lo))
    )
    login_now = silver["logins"].where(F.col("event_date").isin(changed_list))
    login_before = old.where(
        F.col("as_of_date").isin(changed_list) & (F.col("days_since_last_login") == 0)
    )
    scope_users = (
        recent.select("user_id")
        .unionByName(stored_recent.select("user_id"))
        .unionByName(login_now.select("user_id"))
        .unionByName(login_before.select("user_id"))
        .where(F.col("user_id").isNotNull())
        .distinct()
    )
    keys = (
        feature_keys(first, m_new, as_of_dates=window_dates, start=lo)
        .unionByName(feature_keys(first.join(scope_users, "user_id", "left_semi"), m_new, start=lo))
        .distinct()
    )
    start = lo - timedelta(days=LONG_DAYS - 1)

    def window(name: str) -> DataFrame:
        return silver[name].where(F.col("event_date").between(start, m_new))

    new = compute_features(
        keys,
        first,
        window("logins"),
        window("api_requests"),
        window("ai_completions"),
        prior_last_login=prior,
    )
    return new, scope_users


def _stored_scope(
    old: DataFrame, lo: date, hi: date, window_dates: set[date], scope_users: DataFrame
) -> DataFrame:
    """The stored rows the recomputation replaces."""
    band = old.where(F.col("as_of_date").between(lo, hi))
    flagged = band.join(scope_users.withColumn("_all_rows", F.lit(True)), "user_id", "left")
    in_scope = F.col("as_of_date").isin(sorted(window_dates)) | F.col("_all_rows").isNotNull()
    return flagged.where(in_scope).select(*FEATURE_COLUMNS)


def _differences(new: DataFrame, stored: DataFrame) -> DataFrame:
    """MERGE source: new or changed rows, and keys of rows to delete (`_delete`); `_stored`
    tells the keys the table already holds (updates and deletes), so a writer knows without
    a lookup whether the diff is only new rows."""
    old = stored.select(*KEYS, *[F.col(c).alias(f"_old_{c}") for c in VALUES])
    joined = new.withColumn("_new", F.lit(True)).join(
        old.withColumn("_old", F.lit(True)), list(KEYS), "full_outer"
    )
    same = F.lit(True)
    for field in USER_FEATURES.fields:
        if field.name in VALUES:
            same = same & _same(F.col(field.name), F.col(f"_old_{field.name}"), field.dataType)
    upsert = F.col("_new").isNotNull() & (F.col("_old").isNull() | ~same)
    delete = F.col("_new").isNull()
    stored_key = F.col("_old").isNotNull()
    return joined.where(upsert | delete).select(
        *FEATURE_COLUMNS, delete.alias("_delete"), stored_key.alias("_stored")
    )


def _same(a: Column, b: Column, data_type: object) -> Column:
    if data_type.typeName() == "double":  # type: ignore[attr-defined]
        close = F.abs(a - b) <= F.lit(DOUBLE_TOLERANCE) * F.greatest(F.abs(a), F.abs(b))
        return (a.isNull() & b.isNull()) | F.coalesce(close | (a == b), F.lit(False))
    return a.eqNullSafe(b)
