"""`lakehouse forget-user` on the contract example, next to the floor of the same window.

    .venv/bin/python bench/erasure_bench.py [--work DIR]

Builds the contract example's lakehouse (`lakehouse run`, not timed), picks the busiest
user (a signup and the most rows across silver; tests/test_erasure.py ranks by logins), then
times `lakehouse forget-user` as a user starts it (a fresh process: JVM start, the
re-processing of the user's dates with every check, the purge of old file versions) and
`bench/floor.py` on the same landing zone just before it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT))

from orchestration.delta_rs import read_table  # noqa: E402
from schemas.tables import SILVER_TABLES  # noqa: E402

CONTRACT_LANDING = PROJECT / "tests" / "fixtures" / "contract_examples" / "landing"
LAKEHOUSE = [sys.executable, "-m", "entrypoints.cli"]


def busiest_user(root: Path) -> str:
    """The signed-up user with the most rows across the silver tables that hold user ids."""
    signed_up = set(
        read_table(str(root / SILVER_TABLES["signups"]), ["user_id"])["user_id"].to_pylist()
    )
    rows: Counter[str] = Counter()
    for table in SILVER_TABLES.values():
        data = read_table(str(root / table))
        if "user_id" in data.column_names:
            rows.update(u for u in data["user_id"].to_pylist() if u in signed_up)
    return max(sorted(rows), key=lambda u: rows[u])


def timed(command: list[str], cwd: Path = PROJECT) -> float:
    started = time.perf_counter()
    # The audit hash's salt is a secret of the deployment: a throwaway one for the bench.
    env = {"LAKEHOUSE_ERASURE_SALT": secrets.token_hex(16), **os.environ}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):  # 1: the example's gate fails one date, as designed
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"erasure_bench: {command[3]} failed ({done.returncode})")
    return round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="work folder (kept); default a temp folder, removed")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="lakehouse-erasure-"))
    landing, root = work / "landing", work / "lakehouse"
    shutil.copytree(CONTRACT_LANDING, landing)
    build = timed([*LAKEHOUSE, "run", "--landing", str(landing), "--lakehouse", str(root)])
    user = busiest_user(root)
    floor = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "floor.py"), "--landing", str(landing)],
        capture_output=True,
        text=True,
        check=True,
    )
    floor_seconds = json.loads(floor.stdout.strip().splitlines()[-1])["wall_seconds"]
    erase = [*LAKEHOUSE, "forget-user", "--landing", str(landing), "--lakehouse", str(root)]
    seconds = timed([*erase, "--user-id", user, "--reason", "bench"])
    result = {
        "forget_user_seconds": seconds,
        "floor_seconds": floor_seconds,
        "ratio": round(seconds / floor_seconds, 2),
        "user": user,
        "build_run_seconds": build,
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
