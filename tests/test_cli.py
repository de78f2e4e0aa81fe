"""User mistakes get one clear line and a non-zero exit, never a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAKEHOUSE = [sys.executable, "-m", "entrypoints.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*LAKEHOUSE, *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def assert_clear_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("lakehouse: error:"), result.stderr
    for word in words:
        assert word in message


def test_missing_landing_folder(tmp_path: Path):
    result = run_cli("run", "--landing", str(tmp_path / "nope"), "--lakehouse", str(tmp_path))
    assert_clear_error(result, "landing zone not found", "nope")


def test_malformed_date(examples_dir: Path, tmp_path: Path):
    landing = examples_dir / "landing"
    result = run_cli(
        "run", "--landing", str(landing), "--lakehouse", str(tmp_path), "--date", "2026-13-01"
    )
    assert_clear_error(result, "2026-13-01")


def test_date_without_landing_folder(examples_dir: Path, tmp_path: Path):
    landing = examples_dir / "landing"
    result = run_cli(
        "run", "--landing", str(landing), "--lakehouse", str(tmp_path), "--date", "2026-01-01"
    )
    assert_clear_error(result, "2026-01-01")


def test_unwritable_lakehouse(examples_dir: Path, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(
        "run", "--landing", str(examples_dir / "landing"), "--lakehouse", str(blocker / "lh")
    )
    assert_clear_error(result, "not writable")


def test_missing_locations(tmp_path: Path):
    env = {"LAKEHOUSE_LANDING": "", "LAKEHOUSE_ROOT": ""}
    assert_clear_error(run_cli("run", env=env), "--landing")


def test_no_java(examples_dir: Path, tmp_path: Path):
    env = {"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "no-java")}
    result = run_cli(
        "run",
        "--landing",
        str(examples_dir / "landing"),
        "--lakehouse",
        str(tmp_path / "lh"),
        env=env,
    )
    assert_clear_error(result, "Java 17+")


@pytest.mark.parametrize("threshold", ["1.5", "-0.1"])
def test_bad_gate_threshold(examples_dir: Path, tmp_path: Path, threshold: str):
    result = run_cli(
        "run",
        "--landing",
        str(examples_dir / "landing"),
        "--lakehouse",
        str(tmp_path),
        "--gate-threshold",
        threshold,
    )
    assert_clear_error(result, "threshold")


def test_generate_rejects_bad_size(tmp_path: Path):
    assert_clear_error(run_cli("generate", "--landing", str(tmp_path), "--records", "0"))
