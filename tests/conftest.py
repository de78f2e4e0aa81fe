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
