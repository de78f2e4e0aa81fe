"""The code location (`[tool.dagster]` in pyproject.toml): `dagster dev` loads `defs`.

`build_definitions` is also what `lakehouse run` executes, with its own locations and
partitions wide enough for the dates it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Definitions, PartitionsDefinition, in_process_executor

from orchestration.assets import build_assets
from orchestration.checks import build_checks
from orchestration.jobs import build_job
from orchestration.maintenance import build_maintenance_job, build_maintenance_schedule
from orchestration.partitions import ingest_date_partitions
from orchestration.resources import default_resources
from orchestration.schedules import build_daily_schedule
from orchestration.sensors import build_landing_sensor


def build_definitions(
    partitions: PartitionsDefinition | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Definitions:
    partitions = partitions or ingest_date_partitions()
    job = build_job()  # partitioned like its assets
    maintenance = build_maintenance_job()  # weekly OPTIMIZE / VACUUM / checkpoint
    return Definitions(
        assets=build_assets(partitions),
        asset_checks=build_checks(partitions),
        jobs=[job, maintenance],
        schedules=[build_daily_schedule(job, partitions), build_maintenance_schedule(maintenance)],
        sensors=[build_landing_sensor(job, partitions)],
        resources={**default_resources(), **(resources or {})},
        # Materializations launched from the UI run in one process too (one Spark session).
        executor=in_process_executor,
    )


defs = build_definitions()
