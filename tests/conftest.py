"""One Spark session for the whole test run (starting one costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipelines.config import SparkSettings
from pipelines.spark import get_spark

# A copy of ../shared/spec/examples (the contract's worked example), kept read-only.
EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "contract_examples"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = get_spark(SparkSettings(), app_name="lakehouse-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    if not EXAMPLES.exists():
        pytest.skip(f"shared contract examples not found at {EXAMPLES}")
    return EXAMPLES


@pytest.fixture(scope="session")
def example_run(spark, examples_dir, tmp_path_factory) -> dict:
    """The contract example processed as it arrives: all dates, then the late file's date.

    Shared, read-only: tests that change a lakehouse copy it first.
    """
    from lakehouse_testing import LATE_DATE, add_late_file, copy_landing, run_pipeline

    base = tmp_path_factory.mktemp("example")
    landing = copy_landing(examples_dir, base / "landing")
    root = base / "lakehouse"
    # With every check, as `lakehouse run` does: tests assert on the checks' results too.
    first = run_pipeline(spark, str(landing), str(root), with_checks=True)
    add_late_file(examples_dir, landing)
    second = run_pipeline(spark, str(landing), str(root), [LATE_DATE], with_checks=True)
    return {"landing": landing, "root": root, "results": (first, second)}
