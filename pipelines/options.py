"""Run settings from the environment and the command line, read once, checked once.

`lakehouse run`, `lakehouse forget-user` and the Databricks task entry points share these
options and this one conversion into `RunSettings`; the environment supplies defaults
(`LAKEHOUSE_*`, typed by pydantic-settings), an option given on the command line wins.
Nothing here reads the environment at import time.
"""

from __future__ import annotations

import argparse
import os

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.config import UserError
from pipelines.landing import is_remote, parse_date
from pipelines.plan import RunSettings

DATA_DOCS_FOLDER = "_data_docs"


class EnvSettings(BaseSettings):
    """The `LAKEHOUSE_*` variables a run uses (README: configuration)."""

    model_config = SettingsConfigDict(env_prefix="LAKEHOUSE_", extra="ignore")

    landing: str | None = None
    root: str | None = None
    gate_threshold: float = Field(0.25, ge=0, le=1)
    data_docs: str = ""  # a folder, "off", or "" for <root>/_data_docs on a local lakehouse


def env_settings() -> EnvSettings:
    try:
        return EnvSettings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "LAKEHOUSE_" + str(first["loc"][0]).upper()
        raise UserError(f"{name}: {first['msg']} (got {first.get('input')!r})") from None


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
    env = env_settings()
    landing = getattr(args, "landing", None) or env.landing or ""
    if need_landing:
        landing = required(landing, "--landing", "LAKEHOUSE_LANDING")
    root = required(getattr(args, "lakehouse", None) or env.root, "--lakehouse", "LAKEHOUSE_ROOT")
    threshold = getattr(args, "gate_threshold", None)
    threshold = env.gate_threshold if threshold is None else threshold
    if not 0 <= threshold <= 1:
        raise UserError(f"--gate-threshold must be between 0 and 1, got {threshold}")
    return RunSettings(landing, root, threshold, data_docs_dir(env.data_docs, root))


def requested_dates(args: argparse.Namespace) -> list:
    return [parse_date(d) for d in getattr(args, "dates", None) or []]
