"""The five gold tables, recomputed for the event dates the run's silver step changed."""

from collections.abc import Iterator
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)

from orchestration.batches import (
    CHANGED_EVENT_DATES,
    GOLD_DATES,
    dates_from,
    latest_metadata,
    plan_run,
)
from orchestration.keys import GOLD, SILVER
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.changes import Changes, to_json
from pipelines.delta_io import read_table, table_path
from pipelines.plan import execute_step
from schemas.tables import GOLD_TABLES

# Every gold table depends on every silver table: `update_gold` reads them all (the greatest
# event_date in any of them bounds the windows), and the five specs of one non-subsettable
# step must have the same parents, or Dagster 1.13 refuses asset backfills of the step.
SPECS = [
    AssetSpec(
        key,
        deps=list(SILVER.values()),
        group_name="gold",
        kinds={"spark", "delta"},
        description=f"gold/{table} (§5), kept in step with silver by event_date.",
    )
    for table, key in GOLD.items()
]


def changed_event_dates(context: AssetExecutionContext, silver_key: AssetKey) -> set[date] | None:
    """The event dates silver changed for this run's partitions; None (rebuild everything)
    when a partition has no silver materialization on record."""
    recorded = latest_metadata(context.instance, silver_key, context.partition_keys)
    if set(recorded) != set(context.partition_keys):
        return None
    changed: set[date] = set()
    for meta in recorded.values():
        changed |= dates_from(meta.get(CHANGED_EVENT_DATES))
    return changed


def build_gold(partitions: PartitionsDefinition) -> AssetsDefinition:
    @multi_asset(
        name="gold",
        specs=SPECS,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=False,
    )
    def gold(
        context: AssetExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> Iterator[MaterializeResult]:
        changed = changed_event_dates(context, SILVER["api_requests"])
        if changed is None:
            context.log.info("no silver record for some partition: rebuilding gold fully")
        run = plan_run(context, spark, lakehouse, Changes(event_dates=changed))
        step = execute_step(run, "gold")
        for table, key in GOLD.items():
            info = step.detail.get(table, {})
            path = table_path(lakehouse.root, GOLD_TABLES[table])
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": read_table(run.spark, path).count(),
                    "mode": info.get("mode", ""),
                    "rows_written": info.get("rows_written", 0),
                    # What the checks validate and ADX republishes: "all" after a rebuild.
                    GOLD_DATES: MetadataValue.json(to_json(run.changes.gold_dates.get(table))),
                    "path": MetadataValue.path(path),
                },
            )

    return gold
