"""The renewable lease (pipelines/locks.py): a live holder's heartbeat keeps it for as long
as it works, a holder SIGKILLed on another host is taken over after one lifetime, and the
run that waited for it then completes with the right tables."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from lakehouse_testing import OUTPUT_TABLES, run_pipeline, table_rows

from pipelines.config import UserError
from pipelines.locks import HOLDER_HOST_ENV, LEASE_SECONDS_ENV, exclusive, lock_path
from schemas.tables import BRONZE_TABLE, INGEST_LOG_TABLE, QUARANTINE_TABLE

PROJECT = Path(__file__).resolve().parents[1]
OTHER_HOST = "build-agent-7.elsewhere"  # not this machine: its PIDs mean nothing here

# A run that takes the lease and then works forever (until it is killed).
HOLDER = """
import sys, time
from pipelines.locks import exclusive
with exclusive(sys.argv[1], wait_seconds=60):
    print("held", flush=True)
    time.sleep(600)
"""


def start_holder(root: str, **env: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, root],
        cwd=PROJECT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def read(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def test_the_heartbeat_keeps_the_lease_of_a_live_holder(tmp_path: Path) -> None:
    """Held for three lifetimes: a waiter must not take it over, only get it after."""
    root = str(tmp_path)
    events: list[str] = []

    def second() -> None:
        with exclusive(root, wait_seconds=60):
            events.append("second in")

    with exclusive(root, lease_seconds=2):
        first = read(lock_path(root, "publish"))
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(6.5)
        renewed = read(lock_path(root, "publish"))
        events.append("first out")
    thread.join(timeout=60)
    assert events == ["first out", "second in"]
    assert renewed["run"] == first["run"] and renewed["renewals"] >= 3
    assert renewed["expires"] > first["expires"]
    assert not Path(lock_path(root, "publish")).exists()


def test_a_reentrant_hold_is_joined_by_nested_calls(tmp_path: Path) -> None:
    root = str(tmp_path)
    with exclusive(root, reentrant=True):
        holder = read(lock_path(root, "publish"))["run"]
        with exclusive(root, wait_seconds=0.5):  # would time out if it waited
            assert read(lock_path(root, "publish"))["run"] == holder
        assert Path(lock_path(root, "publish")).exists()  # still the outer hold's
    assert not Path(lock_path(root, "publish")).exists()


def test_a_lease_lifetime_must_be_a_number(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(LEASE_SECONDS_ENV, "soon")
    refused = pytest.raises(UserError, match="LAKEHOUSE_LEASE_SECONDS must be a number")
    with refused, exclusive(str(tmp_path)):
        pass


def test_a_holder_killed_on_another_host_is_taken_over_and_the_run_completes(
    spark, example_run, tmp_path: Path, caplog
) -> None:
    """A copy of the example lakehouse; a process on "another host" takes its lease with a
    4 s lifetime and is SIGKILLed; re-running one date must wait for the lease to expire,
    take it over, and converge to the example's tables."""
    root = tmp_path / "lakehouse"
    shutil.copytree(example_run["root"], root)
    holder = start_holder(str(root), **{HOLDER_HOST_ENV: OTHER_HOST, LEASE_SECONDS_ENV: "4"})
    path = lock_path(str(root), "publish")
    record = read(path)
    assert record["host"] == OTHER_HOST and record["seconds"] == 4
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert read(path)["run"] == record["run"]  # the dead holder's lease is still there

    with caplog.at_level(logging.WARNING, logger="lakehouse"):
        run_pipeline(spark, str(example_run["landing"]), str(root), [date(2026, 10, 20)])
    takeovers = [r.getMessage() for r in caplog.records if "taking over" in r.getMessage()]
    assert takeovers and OTHER_HOST in takeovers[0]
    assert not Path(path).exists()  # released by the run that took it over
    for table in (BRONZE_TABLE, QUARANTINE_TABLE, INGEST_LOG_TABLE, *OUTPUT_TABLES):
        drop = ("processed_at", "ingested_at")
        expected = table_rows(spark, example_run["root"], table, drop=drop)
        assert table_rows(spark, root, table, drop=drop) == expected, table
