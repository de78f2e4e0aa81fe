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
from orchestration.batches import FEATURE_DATES
from orchestration.keys import FEATURES, SILVER
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.delta_io import read_table, table_path
from pipelines.features import update_features
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
        session = spark.session()
        changed = changed_event_dates(context, SILVER["signups"])
        result = update_features(session, lakehouse.root, changed)
        path = table_path(lakehouse.root, FEATURES_TABLE)
        full = result.get("mode") == "full"
        return MaterializeResult(
            metadata={
                "dagster/row_count": read_table(session, path).count(),
                **{k: v for k, v in result.items() if k != "as_of_dates"},
                FEATURE_DATES: MetadataValue.json("all" if full else result.get("as_of_dates", [])),
                "path": MetadataValue.path(path),
            }
        )

    return user_features
