"""Start and stop the Spark processes the cluster and Spark Connect tests need.

Each process is started as the leader of its own process group (`start_new_session`), so
stopping it by PID also stops whatever it launched (`spark-class` and `spark-submit` exec
a JVM; a worker forks executor JVMs).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyspark

PROJECT = Path(__file__).resolve().parents[1]
SPARK_BIN = Path(pyspark.__file__).resolve().parent / "bin"
RUNNER = Path(__file__).resolve().parent / "example_in_subprocess.py"


def spark_env(**extra: str) -> dict[str, str]:
    """The environment for Spark processes and the pipeline subprocess (no inherited master)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LAKEHOUSE_SPARK_MASTER", "SPARK_REMOTE", "LAKEHOUSE_SPARK_CONF")
    }
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, **extra)
    return env


@contextmanager
def process_group(command: list[str], log: Path, env: dict[str, str]) -> Iterator[int]:
    """Run `command` as its own process group; stop the group (by its PID) on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            yield process.pid
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the group this process leads (pgid == its PID), then SIGKILL what is left
    (a worker's executors can outlive it for a moment)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s; log tail:\n{tail}")


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_example(examples: Path, target: Path, env: dict[str, str], timeout: float) -> dict:
    """The contract example through the pipeline in a subprocess; its JSON summary line."""
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(examples), str(target)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"pipeline subprocess failed:\n{done.stderr[-5000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
