"""GDPR erasure: after `forget_user`, no byte under the landing zone or the lakehouse
holds the user, and every other result equals a run that never saw them."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lakehouse_testing import OUTPUT_TABLES, run_pipeline, table_rows

from pipelines.erasure import AUDIT_TABLE, forget_user, subject_hash
from schemas.tables import QUARANTINE_TABLE, SILVER_TABLES


def files_mentioning(folder: Path, text: str) -> list[str]:
    """Every file whose content (decompressed; Parquet column by column) contains text."""
    hits = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        if path.suffix == ".parquet":
            table = pq.read_table(io.BytesIO(data))
            found = any(text in str(column.to_pylist()) for column in table.columns)
        else:
            found = text.encode() in data
        if found:
            hits.append(str(path.relative_to(folder)))
    return hits


def busiest_user(spark, root) -> str:
    """A user with a signup and activity in several tables (the hardest one to erase)."""
    signups = spark.read.format("delta").load(f"{root}/{SILVER_TABLES['signups']}")
    logins = spark.read.format("delta").load(f"{root}/{SILVER_TABLES['logins']}")
    candidates = signups.select("user_id").join(logins.select("user_id"), "user_id")
    return (
        candidates.groupBy("user_id")
        .count()
        .orderBy("count", "user_id", ascending=False)
        .first()[0]
    )


@pytest.fixture(scope="module")
def erased(spark, example_run, tmp_path_factory):
    """One erasure on a copy of the example lakehouse, shared by the read-only tests below."""
    base = tmp_path_factory.mktemp("erasure")
    landing, root = base / "landing", base / "lakehouse"
    shutil.copytree(example_run["landing"], landing)
    shutil.copytree(example_run["root"], root)
    user = busiest_user(spark, root)
    assert files_mentioning(landing, user)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_ERASURE_SALT", "test-salt")
        result = forget_user(spark, str(landing), str(root), user, reason="test request")
        salted = subject_hash(user)
    return {"user": user, "landing": landing, "root": root, "result": result, "hash": salted}


def test_no_file_mentions_the_user(erased):
    assert files_mentioning(erased["landing"], erased["user"]) == []
    assert files_mentioning(erased["root"], erased["user"]) == []
    assert erased["result"].landing_lines_removed > 0
    assert erased["result"].files_vacuumed > 0


def test_other_users_results_equal_a_run_without_the_user(spark, erased, tmp_path):
    fresh = tmp_path / "fresh"
    run_pipeline(spark, str(erased["landing"]), str(fresh))
    for table in [*OUTPUT_TABLES, QUARANTINE_TABLE]:
        assert table_rows(spark, erased["root"], table) == table_rows(spark, fresh, table), table


def test_audit_records_a_salted_hash_only(spark, erased):
    rows = spark.read.format("delta").load(f"{erased['root']}/{AUDIT_TABLE}").collect()
    assert len(rows) == 1
    audit = rows[0]
    assert audit["subject_hash"] == erased["hash"]
    assert audit["reason"] == "test request"
    assert "silver/signups" in audit["tables"] and "silver/signups" in audit["row_counts"]
    assert erased["user"] not in str(audit.asDict())


def test_salt_is_required(spark, example_run, monkeypatch):
    from pipelines.config import UserError

    monkeypatch.delenv("LAKEHOUSE_ERASURE_SALT", raising=False)
    with pytest.raises(UserError, match="LAKEHOUSE_ERASURE_SALT"):
        forget_user(spark, str(example_run["landing"]), str(example_run["root"]), "u-1")


def test_reprocessing_runs_the_same_checks_as_a_run(erased, example_run):
    """Erasure re-processes through the run plan: the same checks as `lakehouse run`."""
    first, _ = example_run["results"]
    runs = erased["result"].runs
    assert runs and all(run.launcher == "erasure" for run in runs)
    erasure_checks = {c.label: c for run in runs for c in run.checks}
    assert set(erasure_checks) == {c.label for c in first.checks}
    for label, check in erasure_checks.items():
        if label.endswith(":batch_gate"):
            continue  # depends on which dates held the user
        assert check.passed, (label, check.description)
    assert all(run.status in ("succeeded", "gate_failed") for run in runs)
