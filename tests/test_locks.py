"""The lakehouse lease (pipelines/locks.py): one holder at a time, dead holders taken over."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from pipelines.config import UserError
from pipelines.locks import exclusive, lock_path


def read(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def test_a_second_holder_waits_until_the_first_releases(tmp_path):
    root = str(tmp_path)
    events: list[str] = []

    def second() -> None:
        with exclusive(root, "publish", wait_seconds=30):
            events.append("second in")

    with exclusive(root, "publish"):
        events.append("first in")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(2.5)  # the second holder polls every second and must still be waiting
        events.append("first out")
    thread.join(timeout=30)
    assert events == ["first in", "first out", "second in"]
    assert not (tmp_path / "_internal" / "locks" / "publish.lock").exists()


def test_waiting_too_long_is_a_clear_error(tmp_path):
    waiting = pytest.raises(UserError, match="another run still holds")
    with exclusive(str(tmp_path)), waiting, exclusive(str(tmp_path), wait_seconds=1.5):
        pass


def test_the_lease_of_a_killed_process_is_taken_over(tmp_path):
    """A SIGKILLed run leaves its lock file behind; the next run must not wait for it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
    )
    path = lock_path(str(tmp_path), "publish")
    (tmp_path / "_internal" / "locks").mkdir(parents=True)
    record = {"run": "dead", "host": socket.gethostname(), "pid": holder.pid}
    with open(path, "w") as handle:
        json.dump({**record, "since": time.time()}, handle)
    holder.kill()
    holder.wait()
    # A short wait: waiting for the dead holder instead of taking over would raise.
    with exclusive(str(tmp_path), wait_seconds=3):
        assert read(path)["run"] != "dead"


def test_a_live_holder_on_this_host_is_not_taken_over(tmp_path):
    path = lock_path(str(tmp_path), "publish")
    (tmp_path / "_internal" / "locks").mkdir(parents=True)
    record = {"run": "alive", "host": socket.gethostname(), "pid": 1}
    with open(path, "w") as handle:
        json.dump({**record, "since": time.time()}, handle)
    with pytest.raises(UserError, match="alive"), exclusive(str(tmp_path), wait_seconds=1.5):
        pass
    assert read(path)["run"] == "alive"
