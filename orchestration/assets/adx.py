"""adx/gold: copy the event dates gold rewrote to Azure Data Explorer (off when unset)."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from orchestration.batches import GOLD_DATES, latest_metadata, plan_run, written_dates
from orchestration.keys import ADX_PUBLISH, GOLD
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.changes import Changes
from pipelines.plan import execute_step


def build_adx(partitions: PartitionsDefinition) -> AssetsDefinition:
    @asset(
        key=ADX_PUBLISH,
        deps=list(GOLD.values()),
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="serving",
        kinds={"azure", "kusto"},
        description="Gold tables published to Azure Data Explorer, one whole event_date at a "
        "time. A recorded no-op unless LAKEHOUSE_ADX_CLUSTER_URL/_DATABASE are set.",
    )
    def adx_gold(
        context: AssetExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> MaterializeResult:
        changes = Changes()
        for table, key in GOLD.items():
            recorded = latest_metadata(context.instance, key, context.partition_keys)
            changes.gold_dates[table] = written_dates(
                recorded, GOLD_DATES, len(context.partition_keys)
            )
        step = execute_step(plan_run(context, spark, lakehouse, changes), "publish")
        detail = step.detail
        metadata = {"published": detail["published"], "tables": len(detail.get("rows", {}))}
        if detail["published"]:
            metadata["database"] = detail["database"]
            metadata["rows_by_table_and_date"] = MetadataValue.json(detail["rows"])
        else:
            metadata["reason"] = detail["reason"]
        return MaterializeResult(metadata=metadata)

    return adx_gold
