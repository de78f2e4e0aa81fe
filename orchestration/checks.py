"""Asset checks: Dagster's view of the plan's checks (pipelines/checks.py), one per table.

The check functions are the ones `lakehouse run` and the Databricks tasks run; this module
only rebuilds the run's `Changes` from the upstream steps' materialization metadata
(orchestration/batches.py) and turns each `CheckResult` into an `AssetCheckResult`:

* one `gx_suite` check per table (blocking: an `error` expectation that fails stops
  everything downstream of that table in the run; `warn` ones only record);
* `reconciles_with_silver` on each gold table (one GX suite for all five);
* `batch_gate` on quarantine/events: fails with ERROR severity but does not block, because
  the other dates of the run must complete (§4);
* `conservation` on quarantine/events: rows(bronze) = Σ silver + quarantine per passed date.
"""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    PreviewWarning,
    asset_check,
    multi_asset_check,
)

from orchestration.batches import (
    CHANGED_EVENT_DATES,
    FEATURE_DATES,
    GOLD_DATES,
    INGEST_DATES,
    latest_metadata,
    partition_dates,
)
from orchestration.keys import BRONZE, FEATURES, GOLD, QUARANTINE, SILVER, table_key
from orchestration.resources import LakehouseResource, SparkResource
from pipelines import checks
from pipelines.changes import ALL, Changes, from_json
from pipelines.checks import CheckContext, CheckResult
from schemas.tables import (
    GOLD_TABLES,
    QUARANTINE_TABLE,
    SILVER_TABLES,
)


@dataclass(frozen=True)
class SuiteTarget:
    asset_key: AssetKey
    suite: str
    run: Any  # (CheckContext, Changes) -> list[CheckResult] for this table


def _one(results_of, relative: str):  # noqa: ANN001, ANN202 - a plan check, a table
    """The result of one table out of a plan check that covers several."""

    def run(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
        return [r for r in results_of(ctx, changes) if r.target == relative]

    return run


def _silver_suite(name: str, relative: str):  # noqa: ANN202
    def run(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
        rows = checks.rows_by_ingest_date(ctx, relative, changes)
        return [checks.suite(ctx, relative, f"silver.{name}", rows)]

    return run


def _quarantine_suite(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
    rows = checks.rows_by_ingest_date(ctx, QUARANTINE_TABLE, changes)
    return [checks.suite(ctx, QUARANTINE_TABLE, "quarantine.events", rows)]


def _gold_suite(name: str, relative: str):  # noqa: ANN202
    def run(ctx: CheckContext, changes: Changes) -> list[CheckResult]:
        rows = checks.rows_by_dates(ctx, relative, "event_date", changes.gold_dates.get(name))
        return [checks.suite(ctx, relative, f"gold.{name}", rows)]

    return run


SUITE_TARGETS: list[SuiteTarget] = [
    SuiteTarget(BRONZE, "bronze.events", checks.bronze_suites),
    SuiteTarget(QUARANTINE, "quarantine.events", _quarantine_suite),
    *[
        SuiteTarget(key, f"silver.{name}", _silver_suite(name, SILVER_TABLES[name]))
        for name, key in SILVER.items()
    ],
    *[
        SuiteTarget(key, f"gold.{name}", _gold_suite(name, GOLD_TABLES[name]))
        for name, key in GOLD.items()
    ],
    SuiteTarget(FEATURES, "features.user_features", checks.features_suites),
]


def run_changes(context: AssetCheckExecutionContext) -> Changes:
    """The run's `Changes`, from what bronze, silver, gold and features recorded."""
    keys = list(context.partition_keys)
    bronze = latest_metadata(context.instance, BRONZE, keys)
    dates = [
        d
        for d in partition_dates(context)
        # a partition bronze never recorded is checked as if it had landing files
        if d.isoformat() not in bronze
        or d.isoformat() in (bronze[d.isoformat()].get(INGEST_DATES) or [])
    ]
    changes = Changes(ingest_dates=dates)
    silver = latest_metadata(context.instance, SILVER["api_requests"], keys)
    if set(silver) == set(keys):
        event_dates: set = set()
        for meta in silver.values():
            event_dates |= from_json(meta.get(CHANGED_EVENT_DATES)) or set()
        changes.event_dates = event_dates
    for name, key in GOLD.items():
        changes.gold_dates[name] = _written(
            latest_metadata(context.instance, key, keys), GOLD_DATES
        )
    changes.feature_dates = _written(
        latest_metadata(context.instance, FEATURES, keys), FEATURE_DATES
    )
    return changes


def _written(recorded: dict, metadata_key: str):  # noqa: ANN202 - Dates
    """The dates an asset recorded as rewritten; ALL after a rebuild, None if never run."""
    values = [meta.get(metadata_key) for meta in recorded.values()]
    if not values:
        return None
    if ALL in values:
        return ALL
    dates: set = set()
    for value in values:
        dates |= from_json(value) or set()
    return dates


def check_context(
    context: AssetCheckExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
) -> CheckContext:
    keys = list(context.partition_keys)
    span = keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
    return CheckContext(
        spark.session(),
        lakehouse.root,
        lakehouse.data_docs_dir,
        run_name=f"{span} run {context.run.run_id[:8]}",
    )


def to_dagster(result: CheckResult, **identity: Any) -> AssetCheckResult:
    metadata: dict[str, Any] = {
        k: MetadataValue.json(v) if isinstance(v, dict | list) else v
        for k, v in result.metadata.items()
    }
    if result.data_docs_url:
        metadata["data_docs"] = MetadataValue.url(result.data_docs_url)
    if result.passed or result.blocking or result.name == "batch_gate":
        severity = AssetCheckSeverity.ERROR
    else:
        severity = AssetCheckSeverity.WARN  # only warn expectations failed
    return AssetCheckResult(
        passed=result.passed,
        severity=severity,
        metadata=metadata,
        description=result.description,
        **identity,
    )


# --- definitions ---------------------------------------------------------------------------


def suite_check(target: SuiteTarget, partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        asset=target.asset_key,
        name="gx_suite",
        blocking=True,
        partitions_def=partitions,
        description=f"GX suite `{target.suite}` on the rows this run wrote; "
        "error expectations block downstream assets, warn ones only record.",
        metadata={"suite": target.suite},
    )
    def gx_suite(
        context: AssetCheckExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> AssetCheckResult:
        ctx = check_context(context, spark, lakehouse)
        (result,) = target.run(ctx, run_changes(context))
        return to_dagster(lakehouse.tracked(result))

    return gx_suite


def reconcile_check(partitions: PartitionsDefinition) -> AssetChecksDefinition:
    specs = [
        AssetCheckSpec(
            "reconciles_with_silver",
            asset=key,
            blocking=True,
            partitions_def=partitions,
            description="Totals per event_date equal silver's (GX suite reconcile.gold_silver).",
        )
        for key in GOLD.values()
    ]

    @multi_asset_check(specs=specs, name="gold_reconciles_with_silver")
    def reconcile(
        context: AssetCheckExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> Iterator[AssetCheckResult]:
        ctx = check_context(context, spark, lakehouse)
        for result in checks.reconciliation(ctx, run_changes(context)):
            key = table_key(result.target)
            yield to_dagster(
                lakehouse.tracked(result), asset_key=key, check_name="reconciles_with_silver"
            )

    return reconcile


def gate_check(partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        asset=QUARANTINE,
        name="batch_gate",
        blocking=False,  # the other dates of the run must still reach gold (§4)
        partitions_def=partitions,
        description="§4 batch gate: at most the threshold share of an ingest date's records "
        "may fail rules 1-8, or its valid records are held back from silver.",
    )
    def batch_gate(
        context: AssetCheckExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> AssetCheckResult:
        ctx = check_context(context, spark, lakehouse)
        (result,) = checks.batch_gate(ctx, run_changes(context))
        return to_dagster(lakehouse.tracked(result))

    return batch_gate


def conservation_check(partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        asset=QUARANTINE,
        name="conservation",
        partitions_def=partitions,
        additional_deps=list(SILVER.values()),
        description="Every bronze record of a date that passed its gate is in exactly one "
        "place: rows(bronze) = Σ rows(silver) + rows(quarantine), per ingest_date (§4).",
    )
    def conservation(
        context: AssetCheckExecutionContext, spark: SparkResource, lakehouse: LakehouseResource
    ) -> AssetCheckResult:
        ctx = check_context(context, spark, lakehouse)
        (result,) = checks.conservation(ctx, run_changes(context))
        return to_dagster(lakehouse.tracked(result))

    return conservation


def build_checks(partitions: PartitionsDefinition) -> list[AssetChecksDefinition]:
    # Partitioned checks are a preview feature in Dagster 1.13; without them a check on a
    # partitioned asset is not tied to the partitions it validated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            *[suite_check(target, partitions) for target in SUITE_TARGETS],
            reconcile_check(partitions),
            gate_check(partitions),
            conservation_check(partitions),
        ]
