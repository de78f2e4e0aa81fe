"""features/user_features: per-user daily snapshots, kept in step with silver."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from orchestration.assets.gold import changed_event_dates
from orchestration.batches import FEATURE_DATES, plan_run
from orchestration.keys import FEATURES, SILVER
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.changes import Changes, to_json
from pipelines.delta_io import read_table, table_path
from pipelines.plan import execute_step
from schemas.tables import FEATURES_TABLE

INPUTS = ("signups", "logins", "api_requests", "ai_completions")


def build_features(partitions: PartitionsDefinition) -> AssetsDefinition:
    @asset(
        key=FEATURES,
        deps=[SILVER[name] for name in INPUTS],
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="features",
        kinds={"spark", "delta"},
        description="Point-in-time user feature snapshots, one row per (user, as_of_date).",
    )
    def user_features(
        context: AssetExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> MaterializeResult:
        changed = changed_event_dates(context, SILVER["signups"])
        run = plan_run(context, spark, lakehouse, Changes(event_dates=changed))
        step = execute_step(run, "features")
        path = table_path(lakehouse.root, FEATURES_TABLE)
        return MaterializeResult(
            metadata={
                "dagster/row_count": read_table(run.spark, path).count(),
                **step.detail,
                FEATURE_DATES: MetadataValue.json(to_json(run.changes.feature_dates)),
                "path": MetadataValue.path(path),
            }
        )

    return user_features
