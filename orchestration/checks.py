"""Asset checks: the GX suites of `expectations/` on the rows each run wrote, plus the gate.

* One `gx_suite` check per table runs its suite (`bronze.events`, `silver.logins`, ...) on
  the rows of the run's partitions: bronze, quarantine and silver by ingest_date, gold by
  the event dates the run rewrote, features by the as_of dates it rewrote. Suite checks are
  blocking: an `error` expectation that fails stops everything downstream of that table
  in the run; `warn` expectations only record (a yellow check).
* `reconciles_with_silver` on each gold table: gold totals per event_date equal silver's.
* `batch_gate` on quarantine/events: the §4 gate of every ingest date. It fails with
  ERROR severity but does not block, because the other dates of the run must complete.
* `conservation` on quarantine/events: rows(bronze) = Σ silver + quarantine per passed date.

Every result's metadata holds the suite summary and a link to the GX Data Docs page.
"""

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import TYPE_CHECKING, Any

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
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchestration.batches import (
    FEATURE_DATES,
    GOLD_DATES,
    INGEST_DATES,
    dates_from,
    iso,
    latest_metadata,
    partition_dates,
)
from orchestration.keys import BRONZE, FEATURES, GOLD, QUARANTINE, SILVER
from orchestration.resources import LakehouseResource, SparkResource
from pipelines.delta_io import read_table, table_exists, table_path
from pipelines.silver import INGEST_LOG_TABLE
from schemas.tables import (
    BRONZE_TABLE,
    FEATURES_TABLE,
    GOLD_TABLES,
    QUARANTINE_TABLE,
    SILVER_TABLES,
)

if TYPE_CHECKING:
    from expectations.suites import SuiteResult

# Great Expectations is imported inside the checks: it takes seconds to import, and the
# code location (webserver, daemon, sensor ticks) should load without it.

# Which reconciled measures belong to which gold table (expectations/build_suites.py).
RECONCILED_BY_TABLE = {
    "api_usage_daily": ("api_requests", "api_errors"),
    "ai_usage_daily": ("ai_requests", "ai_tokens"),
    "revenue_daily": ("invoices", "amount_cents"),
    "signups_daily": ("signups",),
    "daily_active_users": ("active_users",),
}


@dataclass(frozen=True)
class Batch:
    """What a check looks at: the run's ingest dates and the checked asset's record."""

    spark: SparkSession
    root: str
    ingest_dates: list[date]
    recorded: dict[str, Mapping[str, Any]]  # partition key -> the asset's latest metadata


# --- rows to validate ----------------------------------------------------------------------


def _by_ingest_date(relative: str) -> Callable[[Batch], DataFrame | None]:
    def rows(batch: Batch) -> DataFrame | None:
        path = table_path(batch.root, relative)
        if not batch.ingest_dates or not table_exists(path):
            return None
        return read_table(batch.spark, path).where(F.col("ingest_date").isin(batch.ingest_dates))

    return rows


def _by_written_dates(relative: str, key: str, column: str) -> Callable[[Batch], DataFrame | None]:
    """Rows of the dates the asset recorded as rewritten; the whole table after a rebuild."""

    def rows(batch: Batch) -> DataFrame | None:
        path = table_path(batch.root, relative)
        if not table_exists(path):
            return None
        values = [meta.get(key) for meta in batch.recorded.values()]
        table = read_table(batch.spark, path)
        if not values or "all" in values:
            return table
        dates: set[date] = set()
        for value in values:
            dates |= dates_from(value)
        return table.where(F.col(column).isin(sorted(dates))) if dates else None

    return rows


@dataclass(frozen=True)
class SuiteTarget:
    asset_key: AssetKey
    suite: str
    rows: Callable[[Batch], DataFrame | None]


SUITE_TARGETS: list[SuiteTarget] = [
    SuiteTarget(BRONZE, "bronze.events", _by_ingest_date(BRONZE_TABLE)),
    SuiteTarget(QUARANTINE, "quarantine.events", _by_ingest_date(QUARANTINE_TABLE)),
    *[
        SuiteTarget(key, f"silver.{name}", _by_ingest_date(SILVER_TABLES[name]))
        for name, key in SILVER.items()
    ],
    *[
        SuiteTarget(
            key, f"gold.{name}", _by_written_dates(GOLD_TABLES[name], GOLD_DATES, "event_date")
        )
        for name, key in GOLD.items()
    ],
    SuiteTarget(
        FEATURES,
        "features.user_features",
        _by_written_dates(FEATURES_TABLE, FEATURE_DATES, "as_of_date"),
    ),
]


def batch_for(
    context: AssetCheckExecutionContext,
    spark: SparkResource,
    lakehouse: LakehouseResource,
    asset_key: AssetKey,
) -> Batch:
    keys = list(context.partition_keys)
    bronze = latest_metadata(context.instance, BRONZE, keys)
    dates = [
        d
        for d in partition_dates(context)
        # a partition bronze never recorded is checked as if it had landing files
        if d.isoformat() not in bronze
        or d.isoformat() in (bronze[d.isoformat()].get(INGEST_DATES) or [])
    ]
    recorded = latest_metadata(context.instance, asset_key, keys)
    return Batch(spark.session(), lakehouse.root, dates, recorded)


# --- results -------------------------------------------------------------------------------


def check_result(result: "SuiteResult", rows: int | None, **extra: Any) -> AssetCheckResult:
    """Error expectations failing: a failed ERROR check; only warnings: a failed WARN one."""
    failed = (*result.blocking_failures, *result.warnings)
    metadata: dict[str, Any] = {
        "suite": result.suite_name,
        "expectations": result.evaluated,
        "blocking_failures": len(result.blocking_failures),
        "warnings": len(result.warnings),
        "failed_expectations": MetadataValue.json(result.to_metadata()["failed"]),
        "seconds": round(result.seconds, 2),
        **extra,
    }
    if rows is not None:
        metadata["rows_validated"] = rows
    if result.data_docs_url:
        metadata["data_docs"] = MetadataValue.url(result.data_docs_url)
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR if result.blocking_failures else AssetCheckSeverity.WARN,
        metadata=metadata,
        description="; ".join(_describe(e) for e in failed[:5]) or None,
    )


def _describe(e: Any) -> str:
    what = f"{e.type}({e.column})" if e.column else e.type
    if e.exception:
        return f"{e.severity}: {what} could not run: {e.exception}"
    return f"{e.severity}: {what}: {e.unexpected_count} unexpected"


def _run_name(context: AssetCheckExecutionContext) -> str:
    keys = list(context.partition_keys)
    span = keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
    return f"{span} run {context.run.run_id[:8]}"


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
        batch = batch_for(context, spark, lakehouse, target.asset_key)
        df = target.rows(batch)
        if df is None:
            return AssetCheckResult(
                passed=True,
                metadata={"suite": target.suite, "rows_validated": 0},
                description="nothing written for these partitions",
            )
        from expectations.suites import validate

        # Validate a snapshot: GX runs dozens of small jobs, each would re-read Delta.
        df = df.localCheckpoint()
        result = validate(
            df, target.suite, data_docs_dir=lakehouse.data_docs_dir, run_name=_run_name(context)
        )
        return check_result(result, df.count())

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
        from expectations.reconcile import reconcile_gold_with_silver

        session = spark.session()

        def tables(paths: Mapping[str, str]) -> dict[str, DataFrame]:
            return {n: read_table(session, table_path(lakehouse.root, p)) for n, p in paths.items()}

        result = reconcile_gold_with_silver(
            tables(SILVER_TABLES), tables(GOLD_TABLES), lakehouse.data_docs_dir
        )
        for table, key in GOLD.items():
            measures = RECONCILED_BY_TABLE[table]
            mine = [
                e
                for e in result.expectations
                if e.column and e.column.split(",")[0].removesuffix("_gold") in measures
            ]
            table_failed = [e for e in mine if not e.success]
            shared_failed = [e for e in result.blocking_failures if e not in mine]
            failed = table_failed + shared_failed
            metadata: dict[str, Any] = {
                "suite": result.suite_name,
                "measures": MetadataValue.json(list(measures)),
                "failed_expectations": MetadataValue.json([_describe(e) for e in failed]),
            }
            if result.data_docs_url:
                metadata["data_docs"] = MetadataValue.url(result.data_docs_url)
            yield AssetCheckResult(
                asset_key=key,
                check_name="reconciles_with_silver",
                passed=not failed,
                severity=AssetCheckSeverity.ERROR,
                metadata=metadata,
                description="; ".join(_describe(e) for e in failed[:5]) or None,
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
        batch = batch_for(context, spark, lakehouse, QUARANTINE)
        path = table_path(lakehouse.root, INGEST_LOG_TABLE)
        if not batch.ingest_dates or not table_exists(path):
            return AssetCheckResult(passed=True, description="no ingest dates processed")
        rows = (
            read_table(batch.spark, path)
            .where(F.col("ingest_date").isin(batch.ingest_dates))
            .orderBy("ingest_date")
            .collect()
        )
        outcomes = {
            r["ingest_date"].isoformat(): {
                "records": r["records"],
                "failed_rules_1_8": r["failed"],
                "failed_share": round(r["failed_share"], 4),
                "threshold": r["gate_threshold"],
                "gate_passed": r["gate_passed"],
                "top_reasons": r["top_reasons"],
            }
            for r in rows
        }
        failed = {d: o for d, o in outcomes.items() if not o["gate_passed"]}
        return AssetCheckResult(
            passed=not failed,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failed_dates": MetadataValue.json(failed),
                "dates": MetadataValue.json(outcomes),
            },
            description="; ".join(
                f"{d}: {o['failed_share']:.1%} of {o['records']} records failed "
                f"(threshold {o['threshold']:.0%}); top reasons: {o['top_reasons']}"
                for d, o in failed.items()
            )
            or None,
        )

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
        batch = batch_for(context, spark, lakehouse, QUARANTINE)
        log = table_path(lakehouse.root, INGEST_LOG_TABLE)
        if not batch.ingest_dates or not table_exists(log):
            return AssetCheckResult(passed=True, description="no ingest dates processed")
        passed_dates = [
            r["ingest_date"]
            for r in read_table(batch.spark, log)
            .where(F.col("ingest_date").isin(batch.ingest_dates) & F.col("gate_passed"))
            .collect()
        ]
        counts = _counts_by_ingest_date(batch.spark, lakehouse.root, passed_dates)
        off = {d: c for d, c in counts.items() if c["bronze"] != c["silver"] + c["quarantine"]}
        return AssetCheckResult(
            passed=not off,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "dates_checked": MetadataValue.json(iso(passed_dates)),
                "counts": MetadataValue.json(counts),
            },
            description="; ".join(f"{d}: {c}" for d, c in off.items()) or None,
        )

    return conservation


def _counts_by_ingest_date(
    spark: SparkSession, root: str, dates: list[date]
) -> dict[str, dict[str, int]]:
    if not dates:
        return {}

    def tagged(relative: str, side: str) -> DataFrame | None:
        path = table_path(root, relative)
        if not table_exists(path):
            return None
        return (
            read_table(spark, path)
            .where(F.col("ingest_date").isin(dates))
            .select("ingest_date", F.lit(side).alias("side"))
        )

    parts = [tagged(BRONZE_TABLE, "bronze"), tagged(QUARANTINE_TABLE, "quarantine")]
    parts += [tagged(path, "silver") for path in SILVER_TABLES.values()]
    rows = reduce(DataFrame.unionByName, [p for p in parts if p is not None])
    counts = {d.isoformat(): {"bronze": 0, "silver": 0, "quarantine": 0} for d in dates}
    for r in rows.groupBy("ingest_date", "side").count().collect():
        counts[r["ingest_date"].isoformat()][r["side"]] = r["count"]
    return counts


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
