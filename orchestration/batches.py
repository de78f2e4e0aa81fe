"""What one run is about: its ingest dates, and what upstream steps recorded for them.

Assets exchange data through the Delta tables, never through an IO manager. The few facts
a later step needs from an earlier one (the landing files bronze read, the event dates
silver changed) are recorded as materialization metadata, where the UI shows them too,
and read back from the instance for the same partitions. That works inside one run and
across runs (e.g. gold re-materialized alone from the UI).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, MetadataValue

from orchestration.partitions import to_dates
from pipelines.changes import ALL, Changes, Dates
from pipelines.plan import PlanOutcome, Run, RunSettings

# Metadata keys written by one step and read by the next.
INGEST_DATES = "ingest_dates"  # bronze: dates with landing files, processed by this run
FINGERPRINTS = "files_fingerprints"  # bronze: {date: fingerprint of the files read}
CHANGED_EVENT_DATES = "changed_event_dates"  # silver: event dates whose rows changed
GOLD_DATES = "gold_dates"  # gold: {table: event dates rewritten, or "all"}
FEATURE_DATES = "as_of_dates"  # features: as_of dates rewritten, or "all"


def partition_dates(context: Any) -> list[date]:
    """The ingest dates of this step: one partition, or a single-run backfill's range."""
    return to_dates(context.partition_keys)


def latest_metadata(
    instance: DagsterInstance, asset_key: AssetKey, partition_keys: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    """{partition key: metadata of its latest materialization} (missing ones left out)."""
    keys = list(partition_keys)
    found: dict[str, Mapping[str, Any]] = {}
    # One query covers the common case: the upstream step just materialized all of them.
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys), limit=len(keys)
    ).records
    for record in records:
        if record.partition_key not in found:
            found[record.partition_key] = _plain(record.asset_materialization.metadata)
    for key in keys:
        if key in found:
            continue
        one = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
        ).records
        if one:
            found[key] = _plain(one[0].asset_materialization.metadata)
    return found


def _plain(metadata: Mapping[str, MetadataValue]) -> dict[str, Any]:
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


def dates_from(values: Any) -> set[date]:
    return {date.fromisoformat(v) for v in values or []}


def iso(dates: Any) -> list[str]:
    return [d.isoformat() for d in sorted(dates)]


def plan_run(context: Any, spark: Any, lakehouse: Any, changes: Changes | None = None) -> Run:
    """A plan `Run` for this step's partitions: assets call the plan's step functions."""
    outcome = PlanOutcome(
        run_id=context.run.run_id,
        launcher="dagster",
        dates=partition_dates(context),
        started_at=datetime.now(UTC),
        changes=changes or Changes(),
    )
    settings = RunSettings(
        lakehouse.landing, lakehouse.root, lakehouse.gate_threshold, lakehouse.data_docs_dir
    )
    return Run(spark.session(), settings, lakehouse.track(outcome), context.log.info)


def written_dates(recorded: Mapping[str, Mapping[str, Any]], key: str, partitions: int) -> Dates:
    """The dates an asset recorded as rewritten for these partitions; ALL after a rebuild or
    when a partition has no record (then what was written is not known)."""
    values = [meta.get(key) for meta in recorded.values()]
    if len(recorded) < partitions or ALL in values:
        return ALL
    dates: set[date] = set()
    for value in values:
        dates |= dates_from(value)
    return dates
