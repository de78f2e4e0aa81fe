"""The pipeline on a real Spark standalone cluster gives exactly the tables of a local run.

A master and two workers (1 core, 1 GB each) on 127.0.0.1, started from pip pyspark's
`bin/spark-class`; the contract example is processed (every date, late file included, in
one run) by a subprocess whose session connects to that master, and every table is compared with the
`example_run` fixture (the same steps in local mode). Every process started here is
stopped by PID.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from lakehouse_testing import OUTPUT_TABLES, table_rows
from ports import free_port
from spark_processes import (
    SPARK_BIN,
    get_json,
    process_group,
    run_example,
    spark_env,
    wait_until,
)

from schemas.tables import BRONZE_TABLE, QUARANTINE_TABLE

pytestmark = pytest.mark.slow

WORKERS = 2
START_SECONDS = 180
RUN_SECONDS = 1800  # one small run; a loaded 2-core machine is slow to schedule executors
APP_NAME = "lakehouse-example-elsewhere"

# Every table of the example, with the columns that legitimately differ between runs dropped.
COMPARED: dict[str, tuple[str, ...]] = {
    BRONZE_TABLE: ("ingested_at",),
    QUARANTINE_TABLE: (),
    **{table: () for table in OUTPUT_TABLES},
}


def start_cluster(stack: ExitStack, logs: Path) -> tuple[str, str]:
    """Master + workers; returns (master URL, master web UI URL) once every worker is ALIVE."""
    port, ui_port = free_port(), free_port()
    # No REST submission server: it binds a fixed port (6066) and nothing here needs it.
    env = spark_env(SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false")
    spark_class = str(SPARK_BIN / "spark-class")
    stack.enter_context(
        process_group(
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1",
                "--port", str(port),
                "--webui-port", str(ui_port),
            ],
            logs / "master.log",
            env,
        )
    )  # fmt: skip
    master, ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}/json/"
    wait_until(lambda: get_json(ui) is not None, START_SECONDS, "master", logs / "master.log")
    for n in range(WORKERS):
        stack.enter_context(
            process_group(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker", master,
                    "--host", "127.0.0.1",
                    "--cores", "1",
                    "--memory", "1g",
                    "--webui-port", str(free_port()),
                    "--work-dir", str(logs / f"worker-{n}"),
                ],
                logs / f"worker-{n}.log",
                env,
            )
        )  # fmt: skip

    def workers_alive() -> bool:
        state = get_json(ui) or {}
        return state.get("aliveworkers", 0) >= WORKERS

    wait_until(workers_alive, START_SECONDS, "workers", logs / "worker-0.log")
    return master, ui


def test_pipeline_on_standalone_cluster_matches_local(spark, example_run, examples_dir, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        master, ui = start_cluster(stack, logs)
        conf = [
            "spark.driver.host=127.0.0.1",  # executors connect back to the driver
            "spark.executor.memory=1g",
            "spark.cores.max=2",
        ]
        env = spark_env(LAKEHOUSE_SPARK_MASTER=master, LAKEHOUSE_SPARK_CONF=";".join(conf))
        # The driver takes the Delta jars from .jars/ (spark.jars) and ships them to
        # the executors, so the workers need nothing installed.
        summary = run_example(examples_dir, tmp_path / "cluster", env, RUN_SECONDS)
        apps = (get_json(ui) or {}).get("completedapps", [])

    assert summary["master"] == master
    assert [a["name"] for a in apps] == [APP_NAME]
    # Each worker ran an executor of the app (a worker keeps one folder per executor).
    for n in range(WORKERS):
        assert list((logs / f"worker-{n}").glob("app-*/*/stderr")), f"worker {n} ran nothing"
    # One run over every date (late file included) ends as the two local runs did.
    local_first, _ = example_run["results"]
    assert summary["failed_dates"] == [d.isoformat() for d in local_first.failed_dates]
    root = tmp_path / "cluster" / "lakehouse"
    for table, drop in COMPARED.items():
        expected = table_rows(spark, example_run["root"], table, drop)
        assert table_rows(spark, root, table, drop) == expected, table
