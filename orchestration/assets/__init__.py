"""One module per layer; each builds its assets for the code location's partitions."""

import warnings

from dagster import AssetsDefinition, BetaWarning, PartitionsDefinition

from orchestration.assets.adx import build_adx
from orchestration.assets.bronze import build_bronze
from orchestration.assets.features import build_features
from orchestration.assets.gold import build_gold
from orchestration.assets.silver import build_silver


def build_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    # `backfill_policy` is a beta parameter; single-run backfills are the point here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return [
            build_bronze(partitions),
            build_silver(partitions),
            build_gold(partitions),
            build_features(partitions),
            build_adx(partitions),
        ]
