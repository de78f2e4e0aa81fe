"""The pipeline through Spark Connect gives exactly the tables of a local run.

Starts a Spark Connect server (pip pyspark ships its jar) with the Delta package on
127.0.0.1, processes the contract example (every date, late file included, in one run) in
a subprocess whose only Spark setting is `SPARK_REMOTE=sc://127.0.0.1:<port>`, and
compares every table with the `example_run` fixture. This is the path Databricks Connect
takes. The server is stopped by PID.
"""

from __future__ import annotations

import pytest
from lakehouse_testing import OUTPUT_TABLES, table_rows
from ports import free_port
from spark_processes import (
    SPARK_BIN,
    port_open,
    process_group,
    run_example,
    spark_env,
    wait_until,
)

from pipelines.jars import delta_jars
from pipelines.spark import DRIVER_JAVA_OPTIONS, LOCAL_CONF, SESSION_CONF
from schemas.tables import BRONZE_TABLE, QUARANTINE_TABLE

pytestmark = pytest.mark.slow

START_SECONDS = 300  # resolving the Delta package and starting the JVM, on a loaded machine
RUN_SECONDS = 1800
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"

COMPARED: dict[str, tuple[str, ...]] = {
    BRONZE_TABLE: ("ingested_at",),
    QUARANTINE_TABLE: (),
    **{table: () for table in OUTPUT_TABLES},
}


def server_command(port: int) -> list[str]:
    # The server owns the JVM, so it takes the settings and JVM options a local session gets
    # (Delta extension and catalog are static: a client cannot set them later).
    conf = {
        **LOCAL_CONF,
        **SESSION_CONF,
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.extraJavaOptions": DRIVER_JAVA_OPTIONS,
    }
    command = [
        str(SPARK_BIN / "spark-submit"),
        "--class", SERVER_CLASS,
        "--master", "local[2]",
        "--jars", ",".join(delta_jars()),
    ]  # fmt: skip
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]


def test_pipeline_through_spark_connect_matches_local(spark, example_run, examples_dir, tmp_path):
    port = free_port()
    log = tmp_path / "connect-server.log"
    with process_group(server_command(port), log, spark_env()):
        wait_until(lambda: port_open(port), START_SECONDS, "Spark Connect server", log)
        env = spark_env(SPARK_REMOTE=f"sc://127.0.0.1:{port}")
        summary = run_example(examples_dir, tmp_path / "connect", env, RUN_SECONDS)

    assert summary["master"] == "local[2]"  # the server's master: the work ran over there
    # One run over every date (late file included) ends as the two local runs did.
    local_first, _ = example_run["results"]
    assert summary["failed_dates"] == [d.isoformat() for d in local_first.failed_dates]
    root = tmp_path / "connect" / "lakehouse"
    for table, drop in COMPARED.items():
        expected = table_rows(spark, example_run["root"], table, drop)
        assert table_rows(spark, root, table, drop) == expected, table
