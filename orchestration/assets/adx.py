"""adx/gold: copy the event dates gold rewrote to Azure Data Explorer (off when unset)."""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)
from pyspark.sql import DataFrame

from orchestration.batches import GOLD_DATES, dates_from, latest_metadata
from orchestration.keys import ADX_PUBLISH, GOLD
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.adx import AdxSettings, gold_frames_for_dates, publish_gold
from pipelines.delta_io import read_table, table_path
from schemas.tables import GOLD as GOLD_SCHEMAS
from schemas.tables import GOLD_TABLES


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
        settings = AdxSettings.from_env()
        if settings is None:
            return MaterializeResult(
                metadata={"published": False, "reason": "ADX not configured", "tables": 0}
            )
        session = spark.session()
        published: dict[str, dict[str, int]] = {}
        for table, key in GOLD.items():
            gold = read_table(session, table_path(lakehouse.root, GOLD_TABLES[table]))
            dates = _dates_to_publish(context, key, gold)
            if not dates:
                continue
            rows = gold_frames_for_dates(gold, dates)
            result = publish_gold(
                settings, f"gold_{table}", rows, sorted(dates), GOLD_SCHEMAS[table]
            )
            published[table] = {d.isoformat(): n for d, n in result.rows_by_date.items()}
        return MaterializeResult(
            metadata={
                "published": True,
                "database": settings.database,
                "rows_by_table_and_date": MetadataValue.json(published),
                "tables": len(published),
            }
        )

    return adx_gold


def _dates_to_publish(context: AssetExecutionContext, key, gold: DataFrame) -> set[date]:
    recorded = latest_metadata(context.instance, key, context.partition_keys)
    values = [meta.get(GOLD_DATES) for meta in recorded.values()]
    if len(recorded) < len(context.partition_keys) or "all" in values:
        return {r[0] for r in gold.select("event_date").distinct().collect()}
    dates: set[date] = set()
    for value in values:
        dates |= dates_from(value)
    return dates
