"""The Dagster instance of a lakehouse: run history, materializations, schedules' state.

It lives in `<lakehouse>/_dagster` (or `$DAGSTER_HOME`), so `lakehouse run` and
`lakehouse ui` on the same lakehouse share one history: the UI shows what the command
line did, and the run-to-run records the assets rely on are the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

from pipelines.config import UserError
from pipelines.landing import is_remote

HOME_FOLDER = "_dagster"

# Runs of one lakehouse write the same Delta tables: one at a time. A queued run waits.
DAGSTER_YAML = """\
# Written by `lakehouse run` / `lakehouse ui`; edit freely, it is not overwritten.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
nux:
  enabled: false
"""


def dagster_home(root: str) -> Path:
    """$DAGSTER_HOME when set, else `<root>/_dagster` for a local lakehouse."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).resolve()
    if is_remote(root):
        raise UserError(
            f"the lakehouse is remote ({root}): set DAGSTER_HOME to a local folder for "
            "Dagster's run history"
        )
    return (Path(root) / HOME_FOLDER).resolve()


def ensure_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def open_instance(root: str) -> DagsterInstance:
    return DagsterInstance.from_config(str(ensure_home(dagster_home(root))))
