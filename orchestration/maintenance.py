"""Weekly table maintenance in Dagster: one op that calls `pipelines.maintenance.maintain`.

The asset job only ever writes; without compaction, checkpoints and VACUUM every nightly
MERGE leaves more small files and log entries behind. This job is not an asset (it
changes no table's contents), so it is a plain op job with its own schedule: Sundays at
03:00 UTC, after the nightly run, stopped by default like the daily schedule (turn it on
in the UI or with `dagster schedule start`). It takes the lakehouse's lease like the
writers, so a run still publishing simply finishes first.
"""

# No `from __future__ import annotations`: Dagster reads the op's annotations at runtime.
from dagster import (
    Config,
    DefaultScheduleStatus,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)

from orchestration.resources import LakehouseResource, SparkResource
from pipelines.maintenance import DEFAULT_RETENTION_HOURS, maintain, summary

MAINTENANCE_JOB_NAME = "lakehouse_maintenance"
MAINTENANCE_CRON = "0 3 * * 0"  # Sundays 03:00 UTC


class MaintenanceConfig(Config):
    """VACUUM retention in hours; below 168 (7 days) is refused."""

    retention_hours: float = DEFAULT_RETENTION_HOURS


@op(description="OPTIMIZE, VACUUM and checkpoint every Delta table of the lakehouse.")
def maintain_lakehouse(
    context: OpExecutionContext,
    config: MaintenanceConfig,
    spark: SparkResource,
    lakehouse: LakehouseResource,
) -> Output[dict]:
    results = maintain(spark.session(), lakehouse.root, config.retention_hours)
    context.log.info(summary(results, config.retention_hours))
    before = sum(r["files_before"] for r in results.values())
    after = sum(r["files_after"] for r in results.values())
    return Output(
        results,
        metadata={
            "tables": len(results),
            "referenced_files_before": before,
            "referenced_files_after": after,
            "per_table": MetadataValue.json(results),
        },
    )


def build_maintenance_job() -> JobDefinition:
    @job(
        name=MAINTENANCE_JOB_NAME,
        executor_def=in_process_executor,
        description="Weekly: compact small files, checkpoint and vacuum every table.",
    )
    def lakehouse_maintenance() -> None:
        maintain_lakehouse()

    return lakehouse_maintenance


def build_maintenance_schedule(maintenance_job: JobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="weekly_maintenance",
        job=maintenance_job,
        cron_schedule=MAINTENANCE_CRON,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Sundays at 03:00 UTC, maintain every table (pipelines/maintenance.py).",
    )
