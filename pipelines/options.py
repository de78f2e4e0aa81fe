"""Run settings from the environment and the command line, read once, checked once.

`lakehouse run`, `lakehouse forget-user` and the Databricks task entry points share these
options and this one conversion into `RunSettings`; the environment supplies defaults
(`LAKEHOUSE_*`, declared and typed in `pipelines.config`, the one settings module), an
option given on the command line wins. Nothing here reads the environment at import time.
"""

from __future__ import annotations

import argparse
import os

from pipelines.config import UserError, check_gate_threshold, settings
from pipelines.landing import is_remote, parse_date
from pipelines.plan import RunSettings

DATA_DOCS_FOLDER = "_data_docs"


def data_docs_dir(setting: str, root: str) -> str | None:
    """Where GX writes Data Docs: the setting, none for "off", else beside a local lakehouse."""
    if setting.strip().lower() == "off":
        return None
    if setting:
        return setting
    if is_remote(root):  # GX writes HTML to a local folder only
        return None
    return os.path.join(os.path.abspath(root), DATA_DOCS_FOLDER)


# --- command-line options ------------------------------------------------------------------


def add_location_options(parser: argparse.ArgumentParser, landing: bool = True) -> None:
    if landing:
        parser.add_argument(
            "--landing", help="landing zone: folder or abfss:// URI (env LAKEHOUSE_LANDING)"
        )
    parser.add_argument(
        "--lakehouse", help="lakehouse root: folder or abfss:// URI (env LAKEHOUSE_ROOT)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_location_options(parser)
    parser.add_argument(
        "--date",
        action="append",
        dest="dates",
        metavar="YYYY-MM-DD",
        help="ingest date to process (repeatable; default: every date in the landing zone)",
    )
    parser.add_argument(
        "--gate-threshold",
        type=float,
        default=None,
        help="max share of records failing rules 1-8 before a date is held back "
        "(env LAKEHOUSE_GATE_THRESHOLD, default 0.25)",
    )


def required(value: str | None, option: str, env: str) -> str:
    if not value:
        raise UserError(f"{option} is required (or set {env})")
    return value


def run_settings(args: argparse.Namespace, need_landing: bool = True) -> RunSettings:
    """The run's settings: command-line options over `LAKEHOUSE_*` defaults."""
    env = settings().run
    landing = getattr(args, "landing", None) or env.landing
    if need_landing:
        landing = required(landing, "--landing", "LAKEHOUSE_LANDING")
    root = required(getattr(args, "lakehouse", None) or env.root, "--lakehouse", "LAKEHOUSE_ROOT")
    threshold = getattr(args, "gate_threshold", None)
    if threshold is None:
        threshold = env.gate_threshold  # checked when read
    else:
        threshold = check_gate_threshold(threshold, "--gate-threshold")
    return RunSettings(landing, root, threshold, data_docs_dir(env.data_docs, root))


def requested_dates(args: argparse.Namespace) -> list:
    return [parse_date(d) for d in getattr(args, "dates", None) or []]
