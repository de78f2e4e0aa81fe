"""Ingest-date partitions: one Dagster partition per landing folder `ingest_date=YYYY-MM-DD`.

Every asset of the job shares them, so one run (or one backfill) processes a set of ingest
dates through every layer. Gold and features tables are stored by event_date; their
partition key says which ingest batch a materialization brought in (the metadata lists
the event dates it touched).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from dagster import DailyPartitionsDefinition, RunRequest

# Dagster's run tags for a single run over a partition range (what a single-run backfill
# sets); not exported from the top-level package.
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.config import settings
from pipelines.landing import parse_date

FIRST_DATE_ENV = "LAKEHOUSE_FIRST_INGEST_DATE"
# No record before 2020 can be valid (§4 rule 5), so no earlier ingest date is useful.
DEFAULT_FIRST_DATE = date(2020, 1, 1)


def first_date_from_env() -> date:
    raw = settings().run.first_ingest_date
    return parse_date(raw) if raw else DEFAULT_FIRST_DATE


def ingest_date_partitions(
    first: date | None = None, days_ahead: int = 0
) -> DailyPartitionsDefinition:
    """Daily UTC partitions from `first` through today (whose files are still arriving, so
    the sensor processes them during the day), or `days_ahead` days past today."""
    first = first or first_date_from_env()
    return DailyPartitionsDefinition(
        start_date=first.isoformat(), end_offset=1 + days_ahead, timezone="UTC", fmt="%Y-%m-%d"
    )


def covering(dates: Iterable[date]) -> DailyPartitionsDefinition:
    """Partitions that hold every one of `dates` (and the usual range around them).

    `lakehouse run` takes whatever dates the landing zone has; one outside the default
    range (before LAKEHOUSE_FIRST_INGEST_DATE, or ahead of this machine's clock) must not
    make the run impossible.
    """
    dates = sorted(set(dates))
    if not dates:
        return ingest_date_partitions()
    today = datetime.now(UTC).date()
    first = min(dates[0], first_date_from_env())
    return ingest_date_partitions(first, days_ahead=max(0, (dates[-1] - today).days))


def to_dates(partition_keys: Iterable[str]) -> list[date]:
    return sorted(date.fromisoformat(k) for k in partition_keys)


def contiguous_ranges(dates: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted dates cut into runs of consecutive days: one Dagster run per range."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(dates)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
    }


def range_request(first: date, last: date, run_key: str | None = None) -> RunRequest:
    """One run over the consecutive ingest dates first..last."""
    if first == last:
        return RunRequest(partition_key=first.isoformat(), run_key=run_key)
    return RunRequest(run_key=run_key, tags=range_tags(first, last))
