"""Delta helpers: versions and commit metrics from the log listing; merge_rows' two paths."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from pipelines.delta_io import (
    ensure_table,
    last_commit_metrics,
    merge_rows,
    read_table,
    table_version,
)

SCHEMA = StructType([StructField("id", LongType()), StructField("value", StringType())])


def history(spark, path: str) -> list:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()


def source(spark, rows: list[tuple[int, str, bool]]):
    schema = StructType([*SCHEMA.fields, StructField("_delete", BooleanType())])
    return spark.createDataFrame(rows, schema)


def contents(spark, path: str) -> list[tuple]:
    return sorted(tuple(r) for r in read_table(spark, path).collect())


@pytest.fixture
def table(spark, tmp_path) -> str:
    path = str(tmp_path / "t")
    ensure_table(spark, path, SCHEMA)
    spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA).write.format("delta").mode("append").save(
        path
    )
    return path


def test_version_and_metrics_from_the_log_match_describe_history(spark, table, tmp_path):
    rows = history(spark, table)
    assert table_version(table) == rows[-1]["version"] == 1
    assert last_commit_metrics(table, 0) == dict(rows[-1]["operationMetrics"])
    assert last_commit_metrics(table, 1) == {}  # no commit after version 1
    assert table_version(str(tmp_path / "missing")) == -1


def test_rows_matching_nothing_are_appended_not_merged(spark, table):
    counts = merge_rows(spark, table, source(spark, [(3, "c", False), (9, None, True)]), ("id",))
    assert counts == {"inserted": 1, "updated": 0, "deleted": 0}
    assert history(spark, table)[-1]["operation"] == "WRITE"  # an append, one commit
    assert contents(spark, table) == [(1, "a"), (2, "b"), (3, "c")]


def test_rows_matching_some_target_rows_are_merged(spark, table):
    rows = [(1, None, True), (2, "B", False), (4, "d", False)]
    counts = merge_rows(spark, table, source(spark, rows), ("id",))
    assert counts == {"inserted": 1, "updated": 1, "deleted": 1}
    assert history(spark, table)[-1]["operation"] == "MERGE"
    assert contents(spark, table) == [(2, "B"), (4, "d")]


def test_prune_limits_which_target_rows_can_match(spark, table):
    # Row 1 lies outside the pruned part, so like the MERGE's ON clause nothing matches it.
    pruned = merge_rows(
        spark, table, source(spark, [(1, "again", False)]), ("id",), prune="t.value = 'b'"
    )
    assert pruned["inserted"] == 1
    assert contents(spark, table) == [(1, "a"), (1, "again"), (2, "b")]
    assert read_table(spark, table).where(F.col("id") == 1).count() == 2
