"""Benchmark table maintenance: file counts and one more day's run before and after it.

    .venv/bin/python bench/maintenance_bench.py                          # 30 days x 2,000
    .venv/bin/python bench/maintenance_bench.py --days 8 --records-per-day 500

Builds a lakehouse with `--days` days of history the way production does (one run per
ingest date, `--days-per-run` to batch them), from the project's generator (`lakehouse
generate`). Then, from two copies of that same state:

* before: run ONE more ingest date, timed;
* after:  `maintain` (OPTIMIZE, VACUUM 168 h, checkpoint), timed, then the same run, timed.

Writes bench/results/maintenance-<utc-time>.json (git-ignored): per table the referenced
data files, the Parquet files on disk and the Delta log's JSON commits since the last
checkpoint before and after maintenance; the run's wall time before and after; and a
check that both runs produced the same tables. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pyspark.sql import SparkSession  # noqa: E402

from pipelines.delta_io import table_path  # noqa: E402
from pipelines.generate import generate_landing  # noqa: E402
from pipelines.maintenance import (  # noqa: E402
    data_files_on_disk,
    delta_tables,
    maintain,
    referenced_files,
)
from pipelines.spark import get_spark  # noqa: E402

RESULTS = PROJECT / "bench" / "results"


def run_one(spark: SparkSession, landing: str, root: str, dates: list[date], checks: bool) -> Any:
    """One pipeline run (the run plan), as every launcher runs it; the only call to it."""
    from pipelines.plan import RunSettings, run_plan

    settings = RunSettings(landing=landing, root=root)
    return run_plan(spark, settings, dates, launcher="bench", with_checks=checks)


def log_tail(root: str, table: str) -> int:
    """JSON commits a reader replays after the last checkpoint (all of them without one)."""
    log = Path(table_path(root, table)) / "_delta_log"
    checkpoint = -1
    last = log / "_last_checkpoint"
    if last.exists():
        checkpoint = int(json.loads(last.read_text())["version"])
    versions = [int(p.name.split(".")[0]) for p in log.glob("*.json") if p.name[0].isdigit()]
    return sum(1 for v in versions if v > checkpoint)


def census(spark: SparkSession, root: str) -> dict[str, dict[str, int]]:
    return {
        table: {
            "referenced_files": referenced_files(spark, table_path(root, table)),
            "files_on_disk": data_files_on_disk(table_path(root, table)),
            "log_commits_after_checkpoint": log_tail(root, table),
        }
        for table in delta_tables(root)
    }


def totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    keys = ("referenced_files", "files_on_disk", "log_commits_after_checkpoint")
    return {k: sum(c[k] for c in counts.values()) for k in keys}


def different_tables(spark: SparkSession, a: str, b: str) -> list[str]:
    """The consumer tables (silver, gold, features) whose rows differ between two
    lakehouses; doubles rounded to 9 decimals, as the tests do (compaction changes the order in
    which sums and percentiles meet their rows, and so the last bits of a double)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType

    def rows(root: str, table: str) -> Any:
        df = spark.read.format("delta").load(table_path(root, table))
        doubles = [f.name for f in df.schema.fields if isinstance(f.dataType, DoubleType)]
        return df.withColumns({c: F.round(c, 9) for c in doubles})

    differing = []
    for table in delta_tables(a):
        if not table.startswith(("silver/", "gold/", "features/")):
            continue
        left, right = rows(a, table), rows(b, table)
        if left.exceptAll(right).count() or right.exceptAll(left).count():
            differing.append(table)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    parser.add_argument("--records-per-day", type=int, default=2000)
    parser.add_argument("--days-per-run", type=int, default=1, help="history dates per run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-checks", action="store_true", help="runs without the GX checks")
    parser.add_argument("--workdir", default=None, help="where to build (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    checks = not args.no_checks

    work = Path(args.workdir or tempfile.mkdtemp(prefix="maintenance-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    landing, history = work / "landing", work / "history"
    end = date(2026, 10, 31)
    generate_landing(
        str(landing),
        days=args.days + 1,
        records=args.records_per_day * (args.days + 1),
        seed=args.seed,
        end_date=end,
    )
    dates = [end - timedelta(days=args.days - i) for i in range(args.days + 1)]
    past, extra = dates[:-1], dates[-1]

    spark = get_spark(app_name="maintenance-bench")
    started = time.perf_counter()
    for i in range(0, len(past), args.days_per_run):
        batch = past[i : i + args.days_per_run]
        t = time.perf_counter()
        run_one(spark, str(landing), str(history), batch, checks)
        print(
            f"[bench] history {batch[0]}..{batch[-1]}: {time.perf_counter() - t:.1f}s", flush=True
        )
    history_seconds = time.perf_counter() - started

    before_root, after_root = work / "before", work / "after"
    for target in (before_root, after_root):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(history, target)
    counts_before = census(spark, str(after_root))

    t = time.perf_counter()
    run_one(spark, str(landing), str(before_root), [extra], checks)
    run_before = time.perf_counter() - t
    print(f"[bench] one more day, before maintenance: {run_before:.1f}s", flush=True)

    t = time.perf_counter()
    maintained = maintain(spark, str(after_root))
    maintenance_seconds = time.perf_counter() - t
    counts_after = census(spark, str(after_root))
    print(f"[bench] maintenance: {maintenance_seconds:.1f}s", flush=True)

    t = time.perf_counter()
    run_one(spark, str(landing), str(after_root), [extra], checks)
    run_after = time.perf_counter() - t
    print(f"[bench] one more day, after maintenance: {run_after:.1f}s", flush=True)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_1m": os.getloadavg()[0],
        "days": args.days,
        "records_per_day": args.records_per_day,
        "days_per_run": args.days_per_run,
        "checks": checks,
        "history_seconds": round(history_seconds, 1),
        "maintenance_seconds": round(maintenance_seconds, 1),
        "run_seconds_before_maintenance": round(run_before, 1),
        "run_seconds_after_maintenance": round(run_after, 1),
        "totals_before": totals(counts_before),
        "totals_after": totals(counts_after),
        "tables_before": counts_before,
        "tables_after": counts_after,
        "maintain": maintained,
        "tables_differing_after_both_runs": different_tables(
            spark, str(before_root), str(after_root)
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"maintenance-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if not k.startswith(("tables", "maintain"))}))
    print(f"[bench] wrote {out}")
    spark.stop()
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
