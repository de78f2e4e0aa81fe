"""One pipeline run over some ingest dates: landing → bronze → silver → gold → features.

Each layer is a function of a Spark session, the locations and the ingest dates, so the
CLI, Dagster assets and Databricks jobs call the same steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from pipelines.bronze import write_bronze
from pipelines.config import UserError
from pipelines.landing import (
    LandingFile,
    fingerprint,
    list_ingest_dates,
    list_landing_files,
    unreadable_files,
)
from pipelines.silver import SilverResult, write_silver
from pipelines.storage_checks import ensure_writable

log = logging.getLogger("lakehouse")


@dataclass
class RunResult:
    dates: list[date]
    silver: SilverResult | None = None
    unreadable: dict[date, list[str]] = field(default_factory=dict)
    gold: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed_dates(self) -> list[date]:
        return self.silver.failed_dates if self.silver else []

    @property
    def ok(self) -> bool:
        return not self.failed_dates and not self.unreadable


def resolve_dates(landing: str, dates: list[date] | None) -> list[date]:
    """The requested ingest dates (default: all), each checked to exist in the landing zone."""
    available = list_ingest_dates(landing)
    if not dates:
        if not available:
            raise UserError(f"no ingest_date=YYYY-MM-DD folders in the landing zone: {landing}")
        return available
    missing = sorted(set(dates) - set(available))
    if missing:
        shown = ", ".join(d.isoformat() for d in missing)
        raise UserError(f"no landing folder for ingest date(s) {shown} under {landing}")
    return sorted(set(dates))


def discover(landing: str, dates: list[date]) -> dict[date, list[LandingFile]]:
    return {d: list_landing_files(landing, d) for d in dates}


def run_bronze_silver(
    spark: SparkSession,
    landing: str,
    root: str,
    dates: list[date],
    threshold: float,
) -> SilverResult:
    files = discover(landing, dates)
    bronze = write_bronze(spark, root, files)
    fingerprints = {d: fingerprint(f) for d, f in files.items()}
    return write_silver(spark, root, fingerprints, bronze, dates, threshold)


def run_pipeline(
    spark: SparkSession,
    landing: str,
    root: str,
    dates: list[date] | None = None,
    threshold: float = 0.25,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Process ingest dates through every layer; gate failures are reported, not raised."""
    say = progress or log.info
    ensure_writable(root)
    result = RunResult(resolve_dates(landing, dates))
    started = time.perf_counter()
    for day in result.dates:
        bad = unreadable_files(list_landing_files(landing, day))
        if bad:
            result.unreadable[day] = bad
    readable = [d for d in result.dates if d not in result.unreadable]
    say(f"bronze+silver: {len(readable)} ingest date(s)")
    if readable:
        result.silver = run_bronze_silver(spark, landing, root, readable, threshold)
    result.seconds["bronze_silver"] = time.perf_counter() - started

    from pipelines.features import update_features
    from pipelines.gold import update_gold

    changed = result.silver.changed_event_dates if result.silver else set()
    step = time.perf_counter()
    say(f"gold: {len(changed)} changed event date(s)")
    result.gold = update_gold(spark, root, changed)
    result.seconds["gold"] = time.perf_counter() - step
    step = time.perf_counter()
    say("features")
    result.features = update_features(spark, root, changed)
    result.seconds["features"] = time.perf_counter() - step
    result.seconds["total"] = time.perf_counter() - started
    return result
