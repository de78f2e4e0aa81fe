"""No credentials in the repository, and none in what the pipeline prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRET_PATTERNS = [
    re.compile(rb"AccountKey=[A-Za-z0-9+/]{20,}"),
    re.compile(rb"(SharedAccessSignature|[?&]sig)=[A-Za-z0-9%+/]{20,}"),
    re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # A quoted literal value; references ({{secrets/scope/key}}, $VARIABLE) are fine.
    re.compile(rb"(?i)client[_.-]?secret\s*[:=]\s*['\"](?!\{\{secrets/)[^'\"$]{8,}['\"]"),
    re.compile(rb"(?i)(password|passwd)\s*[:=]\s*['\"](?!\{\{secrets/)[^'\"$]{6,}['\"]"),
    # The Azurite emulator's well-known key, split so this file does not match itself.
    re.compile(b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1" + b"OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"),
]


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in out.stdout.splitlines() if (REPO / line).is_file()]


def test_no_credentials_in_the_repository():
    offenders = []
    for path in tracked_files():
        data = path.read_bytes()
        offenders += [
            f"{path.relative_to(REPO)}: {p.pattern[:30]!r}"
            for p in SECRET_PATTERNS
            if p.search(data)
        ]
    assert offenders == []


def test_pipeline_output_does_not_leak_credentials(examples_dir, tmp_path):
    secret = "Zm9vYmFyLXRlc3Qtc2VjcmV0LWtleS1kby1ub3QtbG9n"
    landing = tmp_path / "landing"
    shutil.copytree(
        examples_dir / "landing" / "ingest_date=2026-10-20", landing / "ingest_date=2026-10-20"
    )
    env = {
        **os.environ,
        "AZURE_STORAGE_CONNECTION_STRING": f"AccountName=x;AccountKey={secret}",
        "AZURE_CLIENT_SECRET": secret,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "entrypoints.cli",
            "run",
            # Relative locations, as a user types them (Delta SQL needs them made absolute).
            "--landing",
            "landing",
            "--lakehouse",
            "lh",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "lh" / "gold" / "daily_active_users" / "_delta_log").is_dir()
    assert secret not in result.stdout + result.stderr
