"""Helpers shared by the pipeline tests: build the contract example, read tables as rows."""

from __future__ import annotations

import csv
import math
import shutil
from datetime import date, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from schemas.tables import (
    FEATURES_TABLE,
    GOLD,
    GOLD_TABLES,
    SILVER,
    SILVER_TABLES,
    USER_FEATURES,
)

LATE_DATE = date(2026, 10, 21)
OUTPUT_TABLES: dict[str, StructType] = {
    **{SILVER_TABLES[name]: schema for name, schema in SILVER.items()},
    **{GOLD_TABLES[name]: schema for name, schema in GOLD.items()},
    FEATURES_TABLE: USER_FEATURES,
}


def copy_landing(examples: Path, target: Path, with_late_file: bool = False) -> Path:
    shutil.copytree(examples / "landing", target)
    if with_late_file:
        add_late_file(examples, target)
    return target


def add_late_file(examples: Path, landing: Path) -> None:
    for late in (examples / "later").rglob("*.jsonl"):
        destination = landing / late.relative_to(examples / "later")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(late, destination)


def _normalise(value: object) -> object:
    if isinstance(value, float):
        return round(value, 9) if math.isfinite(value) else value
    return value


def table_rows(
    spark: SparkSession, root: Path | str, table: str, drop: tuple[str, ...] = ()
) -> list[tuple]:
    """The rows of a Delta table as sorted tuples (floats rounded), for equality checks."""
    df = spark.read.format("delta").load(f"{root}/{table}")
    df = df.drop(*drop)
    rows = [tuple(_normalise(v) for v in row) for row in df.collect()]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def expected_rows(path: Path, schema: StructType, drop: tuple[str, ...] = ()) -> list[dict]:
    """Rows of an expected/*.csv converted to Python values by the table schema."""
    fields = {f.name: f.dataType.simpleString() for f in schema.fields}
    rows = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            rows.append(
                {
                    name: _parse(value, fields[name])
                    for name, value in record.items()
                    if name not in drop
                }
            )
    return rows


def _parse(value: str, spark_type: str) -> object:
    if value == "":
        return None
    if spark_type == "date":
        return date.fromisoformat(value)
    if spark_type == "timestamp":
        return datetime.fromisoformat(value)
    if spark_type in ("int", "bigint"):
        return int(float(value))  # pandas writes nullable ints as "2.0"
    if spark_type == "double":
        return float(value)
    if spark_type == "boolean":
        return value == "True"
    return value


def assert_rows_match(actual: list[dict], expected: list[dict], keys: list[str]) -> None:
    """Equal row sets; doubles compared to 1e-9 relative."""

    def key(row: dict) -> tuple:
        return tuple(str(row[k]) for k in keys)

    actual_by_key = {key(r): r for r in actual}
    expected_by_key = {key(r): r for r in expected}
    assert len(actual_by_key) == len(actual), "duplicate keys in actual rows"
    missing = sorted(set(expected_by_key) - set(actual_by_key))[:5]
    extra = sorted(set(actual_by_key) - set(expected_by_key))[:5]
    assert not missing and not extra, f"missing {missing}, unexpected {extra}"
    for k, exp in expected_by_key.items():
        act = actual_by_key[k]
        for column, value in exp.items():
            got = act[column]
            if isinstance(value, float) and got is not None:
                assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12), (
                    k,
                    column,
                    got,
                    value,
                )
            else:
                assert got == value, (k, column, got, value)


def run_pipeline(
    spark: SparkSession,
    landing: str,
    root: str,
    dates: list[date] | None = None,
    threshold: float = 0.25,
    with_checks: bool = False,
):  # noqa: ANN201 - a PlanOutcome
    """The run plan, as the tests use it to build lakehouses (checks off unless asked for:
    the tests that assert on check results run them; the others only need the tables)."""
    from pipelines.plan import RunSettings, run_plan

    settings = RunSettings(landing=str(landing), root=str(root), gate_threshold=threshold)
    return run_plan(spark, settings, dates, launcher="test", with_checks=with_checks)
