"""One Delta committer at a time per local table, across processes (pipelines.commit_lock).

Two processes committing one version of a local table at once can both "win" it (seen in
test_concurrent_runs as a ChecksumException on bronze's first commit). The lock is
checked with a real second process holding it, and real Delta writes waiting for it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

from pyspark.sql.types import LongType, StringType, StructField, StructType

from pipelines.commit_lock import local_folder, one_committer
from pipelines.delta_io import commit, read_table, table_version

SCHEMA = StructType([StructField("id", LongType()), StructField("value", StringType())])
ROOT = Path(__file__).resolve().parents[1]

# Holds the table's commit lock until a line arrives on its stdin.
HOLDER = """
import sys
from pipelines.commit_lock import one_committer
with one_committer(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def start_holder(path: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def commit_in_background(spark, path: str, rows: list[tuple[int, str]]):
    """Start an append through `commit`; the events say when it began writing and ended."""
    began, ended = threading.Event(), threading.Event()
    frame = spark.createDataFrame(rows, SCHEMA)

    def write() -> None:
        began.set()
        frame.write.format("delta").mode("append").save(path)

    def run() -> None:
        try:
            commit(path, write)
        finally:
            ended.set()

    threading.Thread(target=run, daemon=True).start()
    return began, ended


def test_a_write_waits_while_another_process_holds_the_tables_lock(spark, tmp_path):
    path = str(tmp_path / "t")
    holder = start_holder(path)
    try:
        began, ended = commit_in_background(spark, path, [(1, "a")])
        assert not began.wait(1.0), "the write started while another process held the lock"
        assert table_version(path) == -1
    finally:
        holder.communicate("\n", timeout=30)
    assert ended.wait(120) and began.is_set()
    assert [tuple(r) for r in read_table(spark, path).collect()] == [(1, "a")]


def test_a_killed_holder_leaves_the_table_writable(spark, tmp_path):
    path = str(tmp_path / "t")
    holder = start_holder(path)
    holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
    holder.wait(30)
    began, ended = commit_in_background(spark, path, [(2, "b")])
    assert ended.wait(120) and began.is_set()
    assert read_table(spark, path).count() == 1


def test_threads_take_turns_and_a_nested_hold_does_not_wait_for_itself(tmp_path):
    path = str(tmp_path / "t")
    order: list[str] = []

    def other_thread() -> None:
        with one_committer(path):
            order.append("other")

    with one_committer(path):
        with one_committer(path):  # re-entrant in the same thread (a commit inside one)
            order.append("outer")
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the other thread got the lock while this one held it"
        order.append("still outer")
    thread.join(30)
    assert order == ["outer", "still outer", "other"]


def test_only_local_tables_are_locked(tmp_path):
    assert local_folder(str(tmp_path / "t")) == str(tmp_path / "t")
    assert local_folder(f"file://{tmp_path}/t") == str(tmp_path / "t")
    assert local_folder("memory://lake/t") is None


# A write is a DataFrameWriter.save or a table-changing SQL statement. delta_io's own
# writes are the bodies `commit` runs (replace_partitions, replace_table, merge_rows).
DELTA_IO = ROOT / "pipelines" / "delta_io.py"
WRITE_SQL = ("MERGE", "DELETE", "UPDATE", "INSERT", "ALTER", "OPTIMIZE", "VACUUM", "REORG")
PACKAGES = ("pipelines", "entrypoints", "orchestration", "feature_store", "expectations")


def _sql_text(call: ast.Call) -> str:
    if not call.args:
        return ""
    first = call.args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    texts = [p.value for p in parts if isinstance(p, ast.Constant)]
    return "".join(t for t in texts if isinstance(t, str))


def _is_write(call: ast.Call) -> bool:
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "save":
        return True
    return call.func.attr == "sql" and _sql_text(call).lstrip().upper().startswith(WRITE_SQL)


def _writes_outside_commit(tree: ast.AST) -> list[int]:
    found: list[int] = []

    def visit(node: ast.AST, in_commit: bool) -> None:
        if isinstance(node, ast.Call):
            if _is_write(node) and not in_commit:
                found.append(node.lineno)
            in_commit = in_commit or (isinstance(node.func, ast.Name) and node.func.id == "commit")
        for child in ast.iter_child_nodes(node):
            visit(child, in_commit)

    visit(tree, False)
    return found


def test_every_delta_write_outside_delta_io_goes_through_commit():
    offenders = [
        f"{source.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for source in sorted((ROOT / package).rglob("*.py"))
        if source != DELTA_IO
        for line in _writes_outside_commit(ast.parse(source.read_text()))
    ]
    assert offenders == []
    # The rule itself sees a bare write.
    assert _writes_outside_commit(ast.parse("df.write.save(p)\nspark.sql(f'DELETE FROM {t}')"))


def test_a_file_system_that_cannot_lock_is_written_unlocked_with_one_warning(
    tmp_path, monkeypatch, caplog
):
    import errno
    import fcntl

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    path = str(tmp_path / "t")
    ran = []
    with caplog.at_level("WARNING", logger="lakehouse"):
        for _ in range(2):
            with one_committer(path):
                ran.append(True)
    assert ran == [True, True]
    assert [r.getMessage() for r in caplog.records].count(
        f"cannot lock {tmp_path / 't'} for commits ([Errno 37] No locks available); "
        "writing without it"
    ) == 1
