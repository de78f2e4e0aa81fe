"""The daily schedule: process yesterday's ingest date once the day is complete (UTC).

The landing sensor already picks up files as they arrive; the schedule is the guarantee
that each day is processed in its final state even when the sensor is off.
"""

from datetime import timedelta
from typing import TYPE_CHECKING

from dagster import (
    DefaultScheduleStatus,
    PartitionsDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

from orchestration.resources import LakehouseResource
from pipelines.landing import list_landing_files

CRON = "30 0 * * *"  # 00:30 UTC: the previous ingest date has stopped receiving files


def build_daily_schedule(
    job: "UnresolvedAssetJobDefinition", partitions: PartitionsDefinition
) -> ScheduleDefinition:
    @schedule(
        job=job,
        cron_schedule=CRON,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Every day at 00:30 UTC, run the job for yesterday's ingest date.",
    )
    def daily_schedule(
        context: ScheduleEvaluationContext, lakehouse: LakehouseResource
    ) -> RunRequest | SkipReason:
        day = (context.scheduled_execution_time - timedelta(days=1)).date()
        key = day.isoformat()
        if not partitions.has_partition_key(key):
            return SkipReason(f"{key} is outside the job's partitions")
        if not list_landing_files(lakehouse.landing, day):
            return SkipReason(f"no landing files for ingest date {key}")
        return RunRequest(partition_key=key, run_key=f"daily:{key}")

    return daily_schedule
