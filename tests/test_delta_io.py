"""Delta helpers: versions and commit metrics from the log listing; merge_rows' two paths."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from pipelines.delta_io import (
    create_with,
    ensure_table,
    last_commit_metrics,
    merge_rows,
    read_table,
    replace_partitions,
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


def test_a_first_write_creates_the_table_in_one_commit_with_the_declared_schema(spark, tmp_path):
    path = str(tmp_path / "new")
    # Rows whose types differ from the table's (an int and a string id) get its schema.
    rows = spark.createDataFrame([("7", "x")], "id string, value string")
    counts = merge_rows(
        spark,
        path,
        rows.withColumn("_delete", F.lit(False)),
        ("id",),
        create=SCHEMA,
    )
    assert counts == {"inserted": 1, "updated": 0, "deleted": 0}
    assert [r["version"] for r in history(spark, path)] == [0]  # no empty table before it
    assert read_table(spark, path).schema == SCHEMA
    assert contents(spark, path) == [(7, "x")]


def test_replacing_partitions_of_a_missing_table_creates_it_partitioned(spark, tmp_path):
    path = str(tmp_path / "by_day")
    schema = StructType([StructField("day", DateType()), StructField("n", LongType())])
    day = date(2026, 10, 20)
    rows = spark.createDataFrame([(day, 1)], schema)
    replace_partitions(rows, path, "day", [day], create=schema, partition_by=("day",))
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    assert detail["partitionColumns"] == ["day"] and table_version(path) == 0
    # The same call again replaces the partition: still one row.
    replace_partitions(rows, path, "day", [day], create=schema, partition_by=("day",))
    assert contents(spark, path) == [(day, 1)] and table_version(path) == 1


def test_a_create_that_loses_the_race_writes_nothing(spark, table, monkeypatch):
    """Another run created the table between the existence check and the write: Delta
    refuses the create, and the caller is told to write as to an existing table."""
    import pipelines.delta_io as delta_io

    real, calls = delta_io.table_exists, []

    def exists(path: str) -> bool:  # the first check misses the table, as in a race
        calls.append(path)
        return len(calls) > 1 and real(path)

    monkeypatch.setattr(delta_io, "table_exists", exists)
    assert create_with(spark.createDataFrame([(5, "e")], SCHEMA), table, SCHEMA) is False
    assert contents(spark, table) == [(1, "a"), (2, "b")]
    assert table_version(table) == 1 and len(calls) == 2  # no commit; checked again
