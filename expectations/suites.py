"""Load the JSON suites and validate Spark DataFrames with them in one ephemeral GX context.

    result = validate(df, "silver.api_requests")
    if not result.success:          # an error-severity expectation failed: block
        ...
    result.to_metadata()             # JSON-safe dict for Dagster

Every expectation carries `meta.severity`: "error" blocks, "warn" is only reported.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context import EphemeralDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark.sql import DataFrame, SparkSession

from expectations.data_docs import write_data_docs

SUITES_DIR = Path(__file__).resolve().parent / "suites"
RESULT_FORMAT = "SUMMARY"  # for the expectations that failed: counts and a few values
# First pass: success only. GX then skips the per-expectation jobs that fetch unexpected
# values; a 31-expectation suite took 1.2 s instead of 6.2 s (measured, warm session).
FAST_FORMAT = "BOOLEAN_ONLY"
MAX_VALUES = 5  # unexpected values kept per expectation
ERROR, WARN = "error", "warn"

_lock = threading.Lock()  # one validation at a time: GX's Spark SQL rules share a temp view


@dataclass(frozen=True)
class ExpectationSummary:
    """The outcome of one expectation, small enough for logs and Dagster metadata."""

    type: str
    column: str | None  # the column, "a,b" for pair/compound rules, None for table rules
    severity: str  # "error" | "warn"
    success: bool
    unexpected_count: int | None  # rows breaking the rule (observed rows for SQL rules)
    unexpected_values: tuple[Any, ...]  # a few of them, JSON-safe
    description: str | None = None
    observed_value: Any = None
    exception: str | None = None  # the rule could not run (e.g. a missing column)


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    success: bool  # every error-severity expectation passed
    evaluated: int
    expectations: tuple[ExpectationSummary, ...]
    data_docs_url: str | None = None
    seconds: float = 0.0

    @property
    def blocking_failures(self) -> tuple[ExpectationSummary, ...]:
        return tuple(e for e in self.expectations if not e.success and e.severity == ERROR)

    @property
    def warnings(self) -> tuple[ExpectationSummary, ...]:
        return tuple(e for e in self.expectations if not e.success and e.severity == WARN)

    def to_metadata(self) -> dict[str, Any]:
        """JSON-serializable summary: counts plus the failed expectations."""
        meta: dict[str, Any] = {
            "suite": self.suite_name,
            "success": self.success,
            "evaluated": self.evaluated,
            "blocking_failures": len(self.blocking_failures),
            "warnings": len(self.warnings),
            "failed": [asdict(e) for e in (*self.blocking_failures, *self.warnings)],
            "seconds": round(self.seconds, 3),
        }
        if self.data_docs_url:
            meta["data_docs_url"] = self.data_docs_url
        return json.loads(json.dumps(meta, default=str))  # tuples -> lists, anything odd -> str


# --- suites -------------------------------------------------------------------------------


def suite_names() -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in SUITES_DIR.glob("*.json"))


@cache
def _suite_text(name: str) -> str:
    path = SUITES_DIR / f"{name}.json"
    if not path.exists():
        raise KeyError(f"no expectation suite {name!r}; known: {', '.join(suite_names())}")
    return path.read_text(encoding="utf-8")


def load_suite(name: str) -> gx.ExpectationSuite:
    """A fresh suite object (callers may change it without affecting others)."""
    return gx.ExpectationSuite(**json.loads(_suite_text(name)))


# --- GX context ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _context(spark: SparkSession) -> tuple[EphemeralDataContext, BatchDefinition]:
    """The process's ephemeral context and whole-DataFrame batch definition for `spark`.

    Keyed by session: GX's SQL rules run on the session its Spark engine was made with.
    """
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_spark(name="spark").add_dataframe_asset(name="dataframe")
    return context, asset.add_batch_definition_whole_dataframe("whole_dataframe")


def validate(
    df: DataFrame,
    suite_name: str,
    data_docs_dir: str | None = None,
    *,
    run_name: str | None = None,
) -> SuiteResult:
    """Validate `df` with the named suite; write Data Docs HTML to `data_docs_dir` if given.

    `run_name` labels the run in Data Docs (e.g. a Dagster partition key).
    """
    suite = load_suite(suite_name)
    started = time.perf_counter()
    was_cached = df.is_cached
    with _lock:
        context, batch_definition = _context(df.sparkSession)
        try:
            batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
            result = _validate_in_two_passes(batch, suite)
        finally:
            if not was_cached:  # GX persists the batch and never releases it
                df.unpersist()
        url = None
        if data_docs_dir:
            url = write_data_docs(context, data_docs_dir, suite, result, run_name)
    return summarize(suite_name, result, data_docs_url=url, seconds=time.perf_counter() - started)


def _validate_in_two_passes(batch: Any, suite: gx.ExpectationSuite) -> Any:
    """Every expectation for success only, then the failed ones again with details.

    Same successes as one SUMMARY pass; the details (unexpected counts and values) are
    computed only where something failed, which on a healthy run is nowhere.
    """
    result = batch.validate(suite, result_format=FAST_FORMAT)
    failed = [i for i, r in enumerate(result.results) if not r.success]
    if not failed:
        return result
    detail = gx.ExpectationSuite(
        name=f"{suite.name}.failed",
        expectations=[_copy(result.results[i].expectation_config) for i in failed],
    )
    detailed = batch.validate(detail, result_format=RESULT_FORMAT).results
    for index, again in zip(failed, detailed, strict=True):
        result.results[index] = again
    return result


def _copy(config: Any) -> Any:
    """A fresh expectation (a suite takes ownership of the ones added to it)."""
    return config.to_domain_obj()


# --- result summaries ---------------------------------------------------------------------


def summarize(
    suite_name: str,
    result: ExpectationSuiteValidationResult,
    data_docs_url: str | None = None,
    seconds: float = 0.0,
) -> SuiteResult:
    summaries = tuple(_summary(r) for r in result.results)
    return SuiteResult(
        suite_name=suite_name,
        success=all(s.success for s in summaries if s.severity == ERROR),
        evaluated=len(summaries),
        expectations=summaries,
        data_docs_url=data_docs_url,
        seconds=seconds,
    )


def _summary(r: ExpectationValidationResult) -> ExpectationSummary:
    config = r.expectation_config
    kwargs = config.kwargs
    res = r.result or {}
    columns = kwargs.get("column") or kwargs.get("column_list")
    if "column_A" in kwargs:
        columns = [kwargs["column_A"], kwargs["column_B"]]
    exception = _exception_message(r.exception_info or {})
    unexpected = res.get("unexpected_count")
    if unexpected is None and config.type == "unexpected_rows_expectation":
        unexpected = res.get("observed_value")
    return ExpectationSummary(
        type=config.type,
        column=",".join(columns) if isinstance(columns, list) else columns,
        # a missing or unknown severity counts as blocking
        severity=WARN if (config.meta or {}).get("severity") == WARN else ERROR,
        success=bool(r.success),
        unexpected_count=unexpected,
        unexpected_values=tuple(
            _jsonable(v) for v in res.get("partial_unexpected_list", [])[:MAX_VALUES]
        ),
        description=config.description,
        observed_value=_jsonable(res.get("observed_value")),
        exception=exception,
    )


def _exception_message(info: dict) -> str | None:
    # Either {"raised_exception": ..., "exception_message": ...} or one such dict per metric.
    infos = [info] if "raised_exception" in info else list(info.values())
    messages = [i.get("exception_message") for i in infos if i.get("raised_exception")]
    return "; ".join(str(m) for m in messages) or None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/inf are not JSON
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return str(value)
