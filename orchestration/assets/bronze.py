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
from pyspark.sql import functions as F

from orchestration.batches import FINGERPRINTS, INGEST_DATES, iso, partition_dates
from orchestration.keys import BRONZE
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.bronze import write_bronze
from pipelines.delta_io import table_path
from pipelines.landing import fingerprint, list_ingest_dates, list_landing_files
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
        requested = partition_dates(context)
        available = set(list_ingest_dates(lakehouse.landing))
        found = {d: list_landing_files(lakehouse.landing, d) for d in requested if d in available}
        # A date without record files (no folder, or only _SUCCESS / *.tmp) is left alone,
        # as the sensor does: an empty batch would only fail the bronze suite.
        files = {d: f for d, f in found.items() if f}
        dates = sorted(files)
        skipped = [d for d in requested if d not in files]
        if skipped:
            context.log.info(f"no landing files for {len(skipped)} date(s): {iso(skipped)}")

        ensure_writable(lakehouse.root)
        rows: dict[str, int] = {}
        if dates:
            stored = write_bronze(spark.session(), lakehouse.root, files)
            counts = stored.groupBy("ingest_date").agg(F.count("*").alias("n")).collect()
            rows = {r["ingest_date"].isoformat(): r["n"] for r in counts}
        return MaterializeResult(
            metadata={
                "dagster/row_count": sum(rows.values()),
                "rows_by_ingest_date": MetadataValue.json(rows),
                "files_by_ingest_date": MetadataValue.json(
                    {d.isoformat(): len(f) for d, f in files.items()}
                ),
                INGEST_DATES: MetadataValue.json(iso(dates)),
                FINGERPRINTS: MetadataValue.json(
                    {d.isoformat(): fingerprint(f) for d, f in files.items()}
                ),
                "dates_without_landing_files": MetadataValue.json(iso(skipped)),
                "path": MetadataValue.path(table_path(lakehouse.root, BRONZE_TABLE)),
            }
        )

    return bronze_events
