"""`lakehouse ui`: the Dagster UI and daemon (`dagster dev`) on one local lakehouse.

The code location reads its locations from the environment, so they are passed that way;
the instance is the lakehouse's own (`orchestration.home`), shared with `lakehouse run`.
`dagster dev` runs in its own process group, so stopping it stops the webserver, the
daemon, the code server and any run it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

from orchestration.home import dagster_home, ensure_home
from orchestration.partitions import FIRST_DATE_ENV
from pipelines.config import settings
from pipelines.landing import list_ingest_dates

DEFINITIONS_MODULE = "orchestration.definitions"
LOCATION_NAME = "lakehouse"  # as `[tool.dagster]` in pyproject.toml names it

# `dagster dev -m` would name the location after the module; a workspace file names it.
WORKSPACE_YAML = f"""\
load_from:
  - python_module:
      module_name: {DEFINITIONS_MODULE}
      location_name: {LOCATION_NAME}
"""


def ui_environment(landing: str, root: str) -> dict[str, str]:
    """The environment `dagster dev` gets: the locations, the home, the first partition."""
    env = {
        "LAKEHOUSE_LANDING": landing,
        "LAKEHOUSE_ROOT": root,
        "DAGSTER_HOME": str(ensure_home(dagster_home(root))),
    }
    if not settings().run.first_ingest_date:
        # Partitions from the first landing date, not from 2020: a readable partition bar.
        dates = list_ingest_dates(landing)
        if dates:
            env[FIRST_DATE_ENV] = dates[0].isoformat()
    return env


def ui_command(home: str, host: str, port: int) -> list[str]:
    workspace = os.path.join(home, "workspace.yaml")
    with open(workspace, "w") as handle:
        handle.write(WORKSPACE_YAML)
    return [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", host, "-p", str(port)]


def start_ui(
    landing: str, root: str, host: str = "127.0.0.1", port: int = 3000, **popen: object
) -> subprocess.Popen:
    """Start `dagster dev` as the leader of a new process group."""
    env: Mapping[str, str] = {**os.environ, **ui_environment(landing, root)}
    command = ui_command(env["DAGSTER_HOME"], host, port)
    return subprocess.Popen(command, env=dict(env), start_new_session=True, **popen)


def stop_ui(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop the whole group as Ctrl-C would (SIGINT: `dagster dev` shuts its services down
    in seconds; it does not handle SIGTERM), then SIGKILL whatever is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    while not _group_is_gone(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # children (code server, a run and its JVM) finish after the leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def serve(landing: str, root: str, host: str, port: int) -> int:
    """Run the UI until Ctrl-C; returns its exit code."""
    process = start_ui(landing, root, host, port)
    print(f"[lakehouse] Dagster UI on http://{host}:{port} (Ctrl-C stops it)", flush=True)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the UI's processes too
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_ui(process)
        return 0
