"""quarantine/events and the six silver tables: one step, as `write_silver` writes them.

Validation, the §4 batch gate and deduplication decide together where each bronze record
goes, so the seven tables are one multi-asset. A date that fails its gate is not an
error here: its valid records are held back, the other dates go on, and the `batch_gate`
check on quarantine/events reports it.
"""

from collections.abc import Iterator
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from orchestration.batches import (
    CHANGED_EVENT_DATES,
    FINGERPRINTS,
    INGEST_DATES,
    iso,
    latest_metadata,
    partition_dates,
    plan_run,
)
from orchestration.keys import BRONZE, QUARANTINE, SILVER
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.changes import Changes
from pipelines.delta_io import read_table, table_exists, table_path
from pipelines.landing import list_ingest_dates
from pipelines.plan import execute_step
from pipelines.silver import SilverResult
from schemas.tables import QUARANTINE_TABLE, SILVER_TABLES

SPECS = [
    AssetSpec(
        QUARANTINE,
        deps=[BRONZE],
        group_name="silver",
        kinds={"spark", "delta"},
        description="One row per rejected record, with its §4 reason code.",
    ),
    *[
        AssetSpec(
            key,
            deps=[BRONZE],
            group_name="silver",
            kinds={"spark", "delta"},
            description=f"Validated, deduplicated `{name}` events (§5), by event_date.",
        )
        for name, key in SILVER.items()
    ],
]


def build_silver(partitions: PartitionsDefinition) -> AssetsDefinition:
    @multi_asset(
        name="silver",
        specs=SPECS,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=False,
    )
    def silver(
        context: AssetExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> Iterator[MaterializeResult]:
        dates, fingerprints = bronze_batch(context, lakehouse.landing)
        run = plan_run(context, spark, lakehouse, Changes(dates, fingerprints))
        execute_step(run, "silver")
        session, result = run.spark, run.outcome.silver
        for day in result.failed_dates if result else []:
            outcome = result.outcomes[day]
            context.log.warning(
                f"gate failed for ingest date {day}: {outcome.failed_share:.1%} of "
                f"{outcome.records} records failed; top reasons: {outcome.top_reasons}"
            )
        yield quarantine_result(session, lakehouse, dates, result)
        changed = iso(result.changed_event_dates) if result else []
        held_back = iso(result.failed_dates) if result else []
        for name, key in SILVER.items():
            path = table_path(lakehouse.root, SILVER_TABLES[name])
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": _count(session, path),
                    "rows_upserted": result.silver_rows_written.get(name, 0) if result else 0,
                    CHANGED_EVENT_DATES: MetadataValue.json(changed),
                    "ingest_dates_held_back": MetadataValue.json(held_back),
                    "path": MetadataValue.path(path),
                },
            )

    return silver


def bronze_batch(context: AssetExecutionContext, landing: str) -> tuple[list[date], dict]:
    """The run's dates that bronze read, with the fingerprint of the files it read.

    The fingerprint comes from bronze's own record, not a new listing: a file that lands
    between the two steps is not in bronze yet, so it must still look new to the sensor.
    A partition bronze never recorded (written outside Dagster) gets an empty fingerprint,
    which the sensor treats as "not processed": the date is redone once, fully.
    """
    recorded = latest_metadata(context.instance, BRONZE, context.partition_keys)
    available = None
    dates, fingerprints = [], {}
    for day in partition_dates(context):
        meta = recorded.get(day.isoformat())
        if meta is not None:
            if day.isoformat() in (meta.get(INGEST_DATES) or []):
                dates.append(day)
                fingerprints[day] = (meta.get(FINGERPRINTS) or {}).get(day.isoformat(), "")
            continue
        available = available if available is not None else set(list_ingest_dates(landing))
        if day in available:
            dates.append(day)
            fingerprints[day] = ""
    return dates, fingerprints


def quarantine_result(
    spark: SparkSession,
    lakehouse: LakehouseResource,
    dates: list[date],
    result: SilverResult | None,
) -> MaterializeResult:
    path = table_path(lakehouse.root, QUARANTINE_TABLE)
    by_date: dict[str, dict[str, int]] = {}
    if dates and table_exists(path):
        counts = (
            read_table(spark, path)
            .where(F.col("ingest_date").isin(dates))
            .groupBy("ingest_date", "reason")
            .count()
            .collect()
        )
        for row in sorted(counts, key=lambda r: (r["ingest_date"], -r["count"])):
            by_date.setdefault(row["ingest_date"].isoformat(), {})[row["reason"]] = row["count"]
    by_reason: dict[str, int] = {}
    for reasons in by_date.values():
        for reason, n in reasons.items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    outcomes = sorted(result.outcomes.items()) if result else []
    gate = {day.isoformat(): o.as_dict() for day, o in outcomes}
    return MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": _count(spark, path),
            "quarantined_in_batch": sum(by_reason.values()),
            "by_reason": MetadataValue.json(dict(sorted(by_reason.items()))),
            "by_ingest_date_and_reason": MetadataValue.json(by_date),
            "gate": MetadataValue.json(gate),
            "gate_threshold": lakehouse.gate_threshold,
            "gate_failed_dates": MetadataValue.json(iso(result.failed_dates) if result else []),
            "path": MetadataValue.path(path),
        },
    )


def _count(spark: SparkSession, path: str) -> int:
    # Delta answers COUNT(*) from its log's file statistics, without reading the data.
    return read_table(spark, path).count() if table_exists(path) else 0
