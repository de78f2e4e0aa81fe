"""The one job: every asset and check, for some ingest dates, in one process.

`lakehouse run`, the daily schedule, the landing sensor and UI backfills all run it (or
the same assets), so they share one code path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetSelection, define_asset_job, in_process_executor

if TYPE_CHECKING:  # what define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

JOB_NAME = "lakehouse"


def build_job() -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        JOB_NAME,
        selection=AssetSelection.all(),
        # One process per run: one Spark session shared by every step, not one per step.
        executor_def=in_process_executor,
        description="landing → bronze → quarantine + silver → gold, features → ADX, with "
        "the GX suites as blocking checks. One run may cover many ingest dates.",
    )
