"""Benchmark the pipeline on a generated landing zone (a script, not a test).

    .venv/bin/python bench/run_bench.py                        # 1M records over 5 dates
    .venv/bin/python bench/run_bench.py --records 200000 --daily-records 20000 --history 1 30

Prints and writes (bench/results/<utc-time>.json) records/second, wall and JVM CPU time per
layer (bronze, silver, gold, features, checks), peak driver-JVM and Python RSS, Delta commits
and parquet files per table, Spark jobs/stages/tasks per layer from the event log, and the
incremental figure: the time to process ONE more ingest date after 1 and after 30 days of
history at the same daily size.

The layers are the steps of the run plan (`pipelines.plan.run_plan`), the path every
launcher runs, timed from its progress lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipelines.generate import generate_landing  # noqa: E402
from pipelines.plan import RunSettings, run_plan  # noqa: E402
from pipelines.spark import get_spark  # noqa: E402
from schemas.tables import (  # noqa: E402
    BRONZE_TABLE,
    FEATURES_TABLE,
    GOLD_TABLES,
    QUARANTINE_TABLE,
    SILVER_TABLES,
)

RESULTS = PROJECT / "bench" / "results"
LAYERS = ("bronze", "silver", "gold", "features", "checks")
# Every table the pipeline writes, and the expectation suite that checks it.
SUITES: dict[str, str] = {
    BRONZE_TABLE: "bronze.events",
    QUARANTINE_TABLE: "quarantine.events",
    **{path: f"silver.{name}" for name, path in SILVER_TABLES.items()},
    **{path: f"gold.{name}" for name, path in GOLD_TABLES.items()},
    FEATURES_TABLE: "features.user_features",
}
INTERNAL_TABLES = ("_internal/validated_events", "_internal/ingest_log")


# --- memory and CPU of this process and its driver JVM ----------------------------------


def driver_jvm() -> psutil.Process | None:
    """The JVM pyspark started for a local/cluster driver (None with Spark Connect)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "java":
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


class PeakMemory:
    """Samples RSS of Python and the driver JVM in a thread; keeps the peaks (bytes)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.python = 0
        self.jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.python = max(self.python, me.memory_info().rss)
            jvm = driver_jvm()
            if jvm is not None:
                with suppress(psutil.NoSuchProcess):
                    self.jvm = max(self.jvm, jvm.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- timing layers ------------------------------------------------------------------------


@dataclass
class Timer:
    """Wall and driver-JVM CPU seconds per layer; the layer name also tags Spark's jobs."""

    spark: Any
    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def layer(self, name: str, prefix: str = "") -> Iterator[None]:
        jvm = driver_jvm()
        cpu0, t0 = cpu_seconds(jvm), time.perf_counter()
        _set_job_group(self.spark, f"{prefix}{name}")
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t0
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds(jvm) - cpu0


def _set_job_group(spark: Any, group: str) -> None:
    # Classic sessions only: the event log then says which layer each Spark job belongs to.
    with suppress(Exception):  # Spark Connect has no SparkContext
        spark.sparkContext.setJobGroup(group, group)


def run_layers(
    spark: Any,
    landing: str,
    root: str,
    dates: list[date] | None,
    timer: Timer,
    checks: bool,
    prefix: str = "",
) -> dict[str, Any]:
    """One run of the plan, exactly as `lakehouse run` runs it; its steps and checks timed.

    The timer's layers follow the plan's progress lines: a step's time is its own, and
    "checks" sums the checks that followed each step.
    """
    clock = StepClock(timer, prefix)
    settings = RunSettings(landing, root)
    outcome = run_plan(
        spark, settings, dates, launcher="bench", with_checks=checks, progress=clock.line
    )
    clock.stop()
    silver = outcome.silver
    return {
        "ingest_dates": [d.isoformat() for d in outcome.dates],
        "records": sum(o.records for o in silver.outcomes.values()) if silver else 0,
        "failed_dates": [d.isoformat() for d in outcome.failed_dates],
        "changed_event_dates": len(outcome.changes.event_dates_or_none() or ()),
        "commits_after": delta_commits(root),
        "suites": {
            c.label: {"passed": c.passed, "seconds": c.metadata.get("seconds")}
            for c in outcome.checks
        },
    }


class StepClock:
    """Opens a timer layer at each `  <step> ...` line and a "checks" layer after each step."""

    def __init__(self, timer: Timer, prefix: str) -> None:
        self.timer, self.prefix = timer, prefix
        self.current: Any = None

    def line(self, message: str) -> None:
        text = message.strip()
        if text.endswith(" ..."):
            self._open(text.removesuffix(" ..."))
        elif " done in " in text:
            self._open("checks")

    def _open(self, name: str) -> None:
        self.stop()
        self.current = self.timer.layer(name, self.prefix)
        self.current.__enter__()

    def stop(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None


# --- what landed on disk ------------------------------------------------------------------


def table_dirs(root: str) -> list[str]:
    return [*SUITES, *INTERNAL_TABLES]


def delta_commits(root: str) -> dict[str, int]:
    """Commits per table so far (one JSON file per Delta version)."""
    counts = {}
    for table in table_dirs(root):
        log = Path(root) / table / "_delta_log"
        if log.exists():
            counts[table] = sum(1 for p in log.glob("*.json"))
    return counts


def files_per_table(spark: Any, root: str) -> dict[str, dict[str, Any]]:
    """Parquet files written (on disk, including files later replaced), files live in the
    current version, and their mean size."""
    out = {}
    for table in table_dirs(root):
        path = Path(root) / table
        if not (path / "_delta_log").exists():
            continue
        written = [p for p in path.rglob("*.parquet") if "_delta_log" not in p.parts]
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
        live, size = int(detail["numFiles"]), int(detail["sizeInBytes"])
        out[table] = {
            "parquet_files_written": len(written),
            "bytes_written": sum(p.stat().st_size for p in written),
            "live_files": live,
            "live_bytes": size,
            "mean_live_file_kb": round(size / live / 1024, 1) if live else 0,
            "commits": sum(1 for _ in (path / "_delta_log").glob("*.json")),
            "partitions": len({p.parent for p in written}),
        }
    return out


# --- Spark's view: the event log ----------------------------------------------------------


def spark_profile(event_dir: Path, top: int = 8) -> dict[str, Any]:
    """Jobs, stages, tasks and stage time per layer (job group), and the slowest stages."""
    logs = [p for p in event_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not logs:
        return {}
    group_of_stage: dict[int, str] = {}
    per_group: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    stages = []
    with max(logs, key=lambda p: p.stat().st_mtime).open() as handle:
        for line in handle:
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                group = (event.get("Properties") or {}).get("spark.jobGroup.id") or "other"
                per_group[group]["jobs"] += 1
                for stage_id in event["Stage IDs"]:
                    group_of_stage[stage_id] = group
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                group = group_of_stage.get(info["Stage ID"], "other")
                seconds = (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1e3
                run_ms = _accumulable(info, "internal.metrics.executorRunTime")
                stats = per_group[group]
                stats["stages"] += 1
                stats["tasks"] += info["Number of Tasks"]
                stats["stage_seconds"] += seconds
                stats["executor_run_seconds"] += run_ms / 1e3
                stats["shuffle_write_mb"] += (
                    _accumulable(info, "internal.metrics.shuffle.write.bytesWritten") / 2**20
                )
                stages.append(
                    {
                        "layer": group,
                        "name": info["Stage Name"],
                        "tasks": info["Number of Tasks"],
                        "seconds": round(seconds, 2),
                    }
                )
    rounded = {g: {k: round(v, 2) for k, v in s.items()} for g, s in sorted(per_group.items())}
    slowest = sorted(stages, key=lambda s: -s["seconds"])[:top]
    return {"per_layer": rounded, "slowest_stages": slowest}


def _accumulable(info: dict, name: str) -> float:
    for acc in info.get("Accumulables", []):
        if acc.get("Name") == name:
            return float(acc.get("Value") or 0)
    return 0.0


# --- the benchmark ------------------------------------------------------------------------


def timed_generate(landing: Path, days: int, records: int, seed: int) -> tuple[Any, float]:
    started = time.perf_counter()
    summary = generate_landing(str(landing), days=days, records=records, seed=seed)
    return summary, time.perf_counter() - started


def main_run(spark: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    landing, root = work / "main" / "landing", work / "main" / "lakehouse"
    say(f"generating {args.records:,} records over {args.days} ingest dates")
    summary, gen_seconds = timed_generate(landing, args.days, args.records, args.seed)
    landing_bytes = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file())
    timer = Timer(spark)
    say("running bronze, silver, gold, features, checks")
    load_before = os.getloadavg()[0]
    with PeakMemory() as peak:
        run = run_layers(spark, str(landing), str(root), None, timer, not args.no_checks)
    pipeline_wall = sum(v for k, v in timer.wall.items() if k != "checks")
    pipeline_cpu = sum(v for k, v in timer.cpu.items() if k != "checks")
    records = run["records"]
    return {
        "records": records,
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "ingest_dates": run["ingest_dates"],
        "failed_dates": run["failed_dates"],
        "landing_bytes": landing_bytes,
        "generate_seconds": round(gen_seconds, 1),
        "wall_seconds": {k: round(v, 2) for k, v in timer.wall.items()},
        "jvm_cpu_seconds": {k: round(v, 2) for k, v in timer.cpu.items()},
        "pipeline_wall_seconds": round(pipeline_wall, 2),
        "records_per_second": round(records / pipeline_wall, 1),
        "records_per_jvm_cpu_second": round(records / pipeline_cpu, 1) if pipeline_cpu else None,
        "peak_rss_mb": {"driver_jvm": mb(peak.jvm), "python": mb(peak.python)},
        "delta_commits_after_layer": run["commits_after"],
        "tables": files_per_table(spark, str(root)),
        "suites": run["suites"],
        "expected_silver_rows": dict(summary.silver_rows),
    }


def incremental_run(
    spark: Any, work: Path, history: int, daily: int, args: argparse.Namespace
) -> dict[str, Any]:
    """History days at `daily` records each, processed in one run; then one more date, timed."""
    base = work / f"incremental-{history}"
    landing, root = base / "landing", base / "lakehouse"
    summary, _ = timed_generate(landing, history + 1, daily * (history + 1), args.seed)
    *past, new = summary.dates
    say(f"history of {history} day(s): {sum(summary.records[d] for d in past):,} records")
    started = time.perf_counter()
    run_layers(spark, str(landing), str(root), list(past), Timer(spark), False, f"h{history}-")
    history_seconds = time.perf_counter() - started
    say(f"one more ingest date ({summary.records[new]:,} records) after {history} day(s)")
    timer = Timer(spark)
    run = run_layers(spark, str(landing), str(root), [new], timer, False, f"h{history}-new-")
    total = sum(timer.wall.values())
    return {
        "history_days": history,
        "history_records": sum(summary.records[d] for d in past),
        "history_seconds": round(history_seconds, 1),
        "new_date_records": run["records"],
        "changed_event_dates": run["changed_event_dates"],
        "wall_seconds": {k: round(v, 2) for k, v in timer.wall.items()},
        "total_seconds": round(total, 2),
        "seconds_per_1k_records": round(total / run["records"] * 1000, 3),
    }


def mb(n: int) -> float:
    return round(n / 2**20, 1)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def environment(spark: Any) -> dict[str, Any]:
    def conf(key: str) -> str | None:
        try:
            return spark.conf.get(key, None)
        except Exception:
            return None

    commit = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "spark": spark.version,
        "master": conf("spark.master") or os.environ.get("SPARK_REMOTE"),
        "shuffle_partitions": conf("spark.sql.shuffle.partitions"),
        "driver_memory": conf("spark.driver.memory"),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="main run (1,000,000)")
    parser.add_argument("--days", type=int, default=5, help="ingest dates of the main run (5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--daily-records", type=int, default=20_000, help="incremental runs: records/day (20,000)"
    )
    parser.add_argument(
        "--history",
        type=int,
        nargs="*",
        default=[1, 30],
        help="incremental runs: days of history before the timed date (1 30; none to skip)",
    )
    parser.add_argument("--no-main", action="store_true", help="skip the main run")
    parser.add_argument("--no-checks", action="store_true", help="skip the expectation suites")
    parser.add_argument("--workdir", type=Path, help="keep landing and lakehouse here")
    parser.add_argument("--output", type=Path, help="result JSON (bench/results/<time>.json)")
    parser.add_argument("--label", default="", help="a note stored with the result")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    events = work / "spark-events"
    for old in ("main", *(f"incremental-{h}" for h in args.history), "spark-events"):
        shutil.rmtree(work / old, ignore_errors=True)
    events.mkdir(parents=True)
    # The event log is how the bench sees Spark's jobs and stages; no pipeline change needed.
    extra = os.environ.get("LAKEHOUSE_SPARK_CONF", "")
    event_log = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{events}",
        "spark.eventLog.compress": "false",  # Spark 4 defaults: zstd, rolling folders
        "spark.eventLog.rolling.enabled": "false",
    }
    os.environ["LAKEHOUSE_SPARK_CONF"] = ";".join(
        [*(f"{k}={v}" for k, v in event_log.items()), extra]
    )
    started = time.perf_counter()
    spark = get_spark(app_name="lakehouse-bench")
    result: dict[str, Any] = {
        "label": args.label,
        "environment": environment(spark),
        "session_start_seconds": round(time.perf_counter() - started, 1),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    if not args.no_main:
        result["main"] = main_run(spark, work, args)
        save(result, output)  # a long run keeps what it measured if a later part fails
    incremental: dict[str, Any] = {}
    for history in args.history:
        run = incremental_run(spark, work, history, args.daily_records, args)
        incremental[f"history_{history}d"] = run
        result["incremental"] = incremental
        save(result, output)
    if len(args.history) > 1:
        first, last = (incremental[f"history_{h}d"] for h in (args.history[0], args.history[-1]))
        incremental["ratio_longest_to_shortest"] = round(
            last["seconds_per_1k_records"] / first["seconds_per_1k_records"], 2
        )
    result["spark"] = spark_profile(events)
    result["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    peak_python = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result["python_max_rss_mb"] = round(peak_python / 1024, 1)
    spark.stop()
    save(result, output)
    print(summary_text(result))
    print(f"result: {output}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def save(result: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")


def summary_text(result: dict[str, Any]) -> str:
    lines = []
    env = result["environment"]
    lines.append(
        f"{env['cpu_count']} cores, load {env['load_average_at_start']} -> "
        f"{env.get('load_average_at_end')}, master {env['master']}"
    )
    main = result.get("main")
    if main:
        lines.append(
            f"main: {main['records']:,} records in {main['pipeline_wall_seconds']} s "
            f"= {main['records_per_second']:,} records/s "
            f"({main['records_per_jvm_cpu_second']} per JVM CPU-second)"
        )
        lines.append("  wall s per layer: " + fmt(main["wall_seconds"]))
        lines.append("  JVM CPU s per layer: " + fmt(main["jvm_cpu_seconds"]))
        lines.append(f"  peak RSS MB: {fmt(main['peak_rss_mb'])}")
        files = {t: v["parquet_files_written"] for t, v in main["tables"].items()}
        lines.append("  parquet files written: " + fmt(files))
    for key, run in (result.get("incremental") or {}).items():
        if isinstance(run, dict):
            lines.append(
                f"{key}: one more date of {run['new_date_records']:,} records in "
                f"{run['total_seconds']} s ({fmt(run['wall_seconds'])})"
            )
        else:
            lines.append(f"incremental {key}: {run}")
    return "\n".join(lines)


def fmt(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


if __name__ == "__main__":
    sys.exit(main())
