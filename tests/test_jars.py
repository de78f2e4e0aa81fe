"""The Delta artifact a local JVM gets, for each delta-spark line (no JVM, no download)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError

import pytest

from pipelines import jars
from pipelines.config import UserError


@pytest.mark.parametrize(
    ("spark", "delta", "coordinate"),
    [
        # 4.0.x: one artifact per Scala version (DBR 17.3 LTS's line, the runtime emulation).
        ("4.0.5", "4.0.1", "io.delta:delta-spark_2.13:4.0.1"),
        # From 4.1 on: one per Spark minor as well.
        ("4.1.1", "4.1.0", "io.delta:delta-spark_4.1_2.13:4.1.0"),
        ("4.2.0", "4.4.0", "io.delta:delta-spark_4.2_2.13:4.4.0"),
    ],
)
def test_delta_artifact_per_line(spark: str, delta: str, coordinate: str):
    assert jars.delta_package(spark, delta) == coordinate


def test_without_delta_spark_a_local_spark_says_which_extra(monkeypatch: pytest.MonkeyPatch):
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(jars, "version", missing)
    with pytest.raises(UserError, match="`spark` \\(or `local`\\) extra"):
        jars.delta_package("4.0.5")
