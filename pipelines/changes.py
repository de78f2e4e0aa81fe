"""What a run changed, in one shape every launcher carries in its own way.

`lakehouse run`, erasure and the benchmark hand it from step to step in memory; the
Dagster assets record it as materialization metadata (orchestration/batches.py); the
Databricks tasks, which are separate processes, pass the event dates through
`_internal/pending_event_dates` (pipelines/databricks_tasks.py). Each step reads the
fields the steps before it filled in and fills in its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# "Everything": a table was rebuilt, or what changed is unknown (recompute everything).
ALL = "all"

Dates = set[date] | str | None  # a set of dates, ALL, or None for "not known yet"


@dataclass
class Changes:
    ingest_dates: list[date] = field(default_factory=list)  # read by bronze (with files)
    fingerprints: dict[date, str] = field(default_factory=dict)  # of the files bronze read
    event_dates: Dates = None  # whose silver rows changed
    gold_dates: dict[str, Dates] = field(default_factory=dict)  # per gold table, rewritten
    feature_dates: Dates = None  # as_of dates of features/user_features rewritten

    def event_dates_or_none(self) -> set[date] | None:
        """For the gold and features updates: None means rebuild everything."""
        return None if self.event_dates in (None, ALL) else set(self.event_dates)


def to_json(dates: Dates) -> Any:
    if dates is None or dates == ALL:
        return dates
    return sorted(d.isoformat() for d in dates)


def from_json(value: Any) -> Dates:
    if value is None or value == ALL:
        return value
    return {date.fromisoformat(v) for v in value}
