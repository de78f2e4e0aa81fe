"""Table maintenance (pipelines/maintenance.py): after several small writes per table,
`maintain` leaves fewer files, a checkpoint, and exactly the same rows (read by Spark and
by delta-rs); short retentions are refused; it waits for the lakehouse's lease."""

from __future__ import annotations

import threading
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
from bundle_testing import REPO, VARIABLE, load_bundle, strings, task_parameters, variable_values
from deltalake import DeltaTable
from lakehouse_testing import table_rows

from orchestration.delta_rs import read_table
from pipelines.config import UserError
from pipelines.delta_io import table_path
from pipelines.ledger import RunRecord, StepRecord, append_run, recent_runs
from pipelines.locks import exclusive
from pipelines.maintenance import delta_tables, maintain, maintain_main
from pipelines.spark import SESSION_CONF
from schemas.tables import BRONZE_EVENTS, BRONZE_TABLE, RUNS_TABLE

DAYS = [date(2026, 10, 20) + timedelta(days=i) for i in range(2)]


def small_lakehouse(spark, root: str) -> None:
    """Bronze written as the pipeline does, in small appends (4 per ingest date), plus a
    ledger of three runs and a scratch table a crashed run left behind."""
    path = table_path(root, BRONZE_TABLE)
    for batch in range(4):
        rows = [
            (day, f"landing/part-{batch}.jsonl", line, f'{{"n": {line}}}', None)
            for day in DAYS
            for line in range(batch * 5, batch * 5 + 5)
        ]
        (
            spark.createDataFrame(rows, BRONZE_EVENTS)
            .repartition(2)
            .write.format("delta")
            .mode("append")
            .partitionBy("ingest_date")
            .save(path)
        )
    for n in range(3):
        append_run(spark, root, RunRecord("cli", DAYS, steps=[StepRecord("bronze", n, None, 5)]))
    spark.range(3).write.format("delta").save(table_path(root, "_internal/tmp/crashed/x"))


def delta_rs_rows(root: str, table: str) -> list[tuple]:
    arrow = read_table(table_path(root, table))
    rows = [tuple(r.values()) for r in arrow.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def files_on_disk(root: str, table: str) -> int:
    folder = Path(table_path(root, table))
    return sum(1 for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts)


def test_maintain_compacts_checkpoints_and_keeps_every_row(spark, tmp_path: Path, capsys) -> None:
    root = str(tmp_path / "lakehouse")
    small_lakehouse(spark, root)
    assert delta_tables(root) == sorted([BRONZE_TABLE, RUNS_TABLE])  # not the scratch table
    bronze_spark = table_rows(spark, root, BRONZE_TABLE)
    bronze_rs = delta_rs_rows(root, BRONZE_TABLE)
    runs_before = {r.run_id for r in recent_runs(spark, root, 100)}
    disk_before = files_on_disk(root, BRONZE_TABLE)

    # Exactly the command line of the bundle's weekly job: 168 h retention, every table.
    (task,) = maintenance_job()["tasks"]
    values = variable_values(load_bundle(), lakehouse_root=root)
    assert maintain_main(task_parameters(task, values)) == 0
    out = capsys.readouterr().out

    # The maintenance is one more run in the ledger (files before / after per table).
    runs = recent_runs(spark, root, 100)
    assert runs_before < {r.run_id for r in runs}
    (mine,) = [r for r in runs if r.launcher == "maintenance"]
    assert mine.status == "succeeded"
    steps = {s.name: s for s in mine.steps}
    assert set(steps) == {f"maintain {BRONZE_TABLE}", f"maintain {RUNS_TABLE}"}
    bronze, ledger = steps[f"maintain {BRONZE_TABLE}"], steps[f"maintain {RUNS_TABLE}"]
    assert bronze.rows_read >= 4 * len(DAYS) and bronze.rows_written == len(DAYS)
    assert ledger.rows_read >= 3 and ledger.rows_written == 1
    assert f"{BRONZE_TABLE}: {bronze.rows_read} → {len(DAYS)} referenced file(s)" in out

    # Same rows; compacted-away files kept for the retention (a reader may still use them).
    assert files_on_disk(root, BRONZE_TABLE) == disk_before + len(DAYS)
    assert table_rows(spark, root, BRONZE_TABLE) == bronze_spark
    assert delta_rs_rows(root, BRONZE_TABLE) == bronze_rs == bronze_spark
    assert len(DeltaTable(table_path(root, BRONZE_TABLE)).file_uris()) == len(DAYS)
    log = Path(table_path(root, BRONZE_TABLE)) / "_delta_log"
    assert (log / "_last_checkpoint").exists() and list(log.glob("*.checkpoint.parquet"))
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{table_path(root, BRONZE_TABLE)}`").first()
    assert "delta.checkpointInterval" not in (detail["properties"] or {})  # restored

    # Erasure's zero retention (explicitly allowed) removes the compacted-away files too.
    purged = maintain(
        spark, root, 0, tables=[BRONZE_TABLE], allow_short_retention=True, record=False
    )
    assert purged[BRONZE_TABLE]["files_before"] == purged[BRONZE_TABLE]["files_after"]
    assert purged[BRONZE_TABLE]["disk_files_after"] == len(DAYS)
    assert files_on_disk(root, BRONZE_TABLE) == len(DAYS)
    assert delta_rs_rows(root, BRONZE_TABLE) == bronze_spark
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"


def test_short_retention_and_unknown_tables_are_refused(spark, tmp_path: Path, capsys) -> None:
    root = str(tmp_path / "lakehouse")
    with pytest.raises(UserError, match="below Delta's safety margin of 168 hours"):
        maintain(spark, root, retention_hours=24)
    with pytest.raises(UserError, match="not a Delta table"):
        maintain(spark, root, tables=["silver/nope"])
    assert maintain_main(["--lakehouse", root, "--retention-hours", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lakehouse-maintain: error: a VACUUM retention of 1 hours")
    assert "\n" not in err and "Traceback" not in err


def test_maintenance_takes_the_lakehouse_lease(spark, tmp_path: Path, monkeypatch) -> None:
    root = str(tmp_path / "lakehouse")
    spark.range(2).write.format("delta").save(table_path(root, "gold/x"))
    monkeypatch.setenv("LAKEHOUSE_LOCK_WAIT_SECONDS", "1")
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with exclusive(root):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(UserError, match="another run still holds the lakehouse's publish"):
            maintain(spark, root, record=False)
    finally:
        release.set()
        thread.join(30)


# --- the launchers: the bundle's weekly job and the Dagster schedule --------------------


def maintenance_job() -> dict:
    return load_bundle()["jobs"]["lakehouse_maintenance_job"]


def test_the_bundle_job_is_weekly_and_mails_on_failure() -> None:
    bundle = load_bundle()
    job = maintenance_job()
    assert job["schedule"]["quartz_cron_expression"].endswith("SUN")  # weekly
    assert job["schedule"]["pause_status"] == "${var.schedule_pause_status}"
    assert job["email_notifications"]["on_failure"] == ["${var.failure_email}"]
    assert job["max_concurrent_runs"] == 1
    used = {m for text in strings(job) for m in VARIABLE.findall(text)}
    assert used <= set(bundle["variables"]), sorted(used - set(bundle["variables"]))
    (task,) = job["tasks"]
    spec = task["python_wheel_task"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[spec["entry_point"]] == "pipelines.maintenance:main"
    parameters = spec["parameters"]
    assert float(parameters[parameters.index("--retention-hours") + 1]) >= 168
    (cluster,) = job["job_clusters"]
    conf = cluster["new_cluster"]["spark_conf"]
    assert {k: str(v) for k, v in conf.items() if k in SESSION_CONF} == SESSION_CONF


def test_the_dagster_job_maintains_the_lakehouse(spark, tmp_path: Path) -> None:
    root = str(tmp_path / "lakehouse")
    path = table_path(root, "gold/example")
    for i in range(3):
        spark.range(i * 10, i * 10 + 10).repartition(2).write.format("delta").mode("append").save(
            path
        )
    rows = table_rows(spark, root, "gold/example")

    from orchestration.definitions import defs
    from orchestration.maintenance import MAINTENANCE_JOB_NAME
    from orchestration.resources import AzureStorageResource, LakehouseResource, SparkResource

    job = defs.resolve_job_def(MAINTENANCE_JOB_NAME)
    assert defs.resolve_schedule_def("weekly_maintenance").job_name == MAINTENANCE_JOB_NAME
    result = job.execute_in_process(
        resources={
            "spark": SparkResource(storage=AzureStorageResource()),
            "lakehouse": LakehouseResource(root=root),
        },
        run_config={"ops": {"maintain_lakehouse": {"config": {"retention_hours": 168}}}},
    )
    assert result.success
    per_table = result.output_for_node("maintain_lakehouse")
    assert per_table["gold/example"]["files_before"] == 6
    assert per_table["gold/example"]["files_after"] == 1
    assert table_rows(spark, root, "gold/example") == rows
    assert read_table(path).num_rows == 30
    assert [r.launcher for r in recent_runs(spark, root, 10)] == ["maintenance"]
