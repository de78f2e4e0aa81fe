"""bronze/events: every landing line of the run's ingest dates, exactly as read."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from orchestration.batches import FINGERPRINTS, INGEST_DATES, iso, plan_run
from orchestration.keys import BRONZE
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.delta_io import table_path
from pipelines.plan import execute_step
from pipelines.storage_checks import ensure_writable
from schemas.tables import BRONZE_TABLE


def build_bronze(partitions: PartitionsDefinition) -> AssetsDefinition:
    @asset(
        key=BRONZE,
        partitions_def=partitions,
        # A backfill of many dates is one run: one Spark application, one Delta commit.
        backfill_policy=BackfillPolicy.single_run(),
        group_name="bronze",
        kinds={"spark", "delta"},
        description="Every non-blank landing line of the ingest date, exactly as read (§5).",
    )
    def bronze_events(
        context: AssetExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> MaterializeResult:
        ensure_writable(lakehouse.root)
        run = plan_run(context, spark, lakehouse)
        step = execute_step(run, "bronze")
        written = run.changes.ingest_dates
        # A date without record files (no folder, or only _SUCCESS / *.tmp) is left alone,
        # as the sensor does: an empty batch would only fail the bronze suite.
        skipped = [d for d in run.outcome.dates if d not in written]
        if skipped:
            context.log.info(f"no landing files for {len(skipped)} date(s): {iso(skipped)}")
        for day, files in run.outcome.unreadable.items():
            context.log.warning(f"ingest date {day} skipped, unreadable: {', '.join(files)}")
        return MaterializeResult(
            metadata={
                "dagster/row_count": step.rows_written,
                "rows_by_ingest_date": MetadataValue.json(
                    step.detail.get("rows_by_ingest_date", {})
                ),
                "files_by_ingest_date": MetadataValue.json(step.detail["files_by_ingest_date"]),
                INGEST_DATES: MetadataValue.json(iso(written)),
                FINGERPRINTS: MetadataValue.json(
                    {d.isoformat(): p for d, p in run.changes.fingerprints.items()}
                ),
                "dates_without_landing_files": MetadataValue.json(iso(skipped)),
                "unreadable_files": MetadataValue.json(
                    {d.isoformat(): f for d, f in run.outcome.unreadable.items()}
                ),
                "path": MetadataValue.path(table_path(lakehouse.root, BRONZE_TABLE)),
            }
        )

    return bronze_events
