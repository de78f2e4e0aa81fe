"""Two processes append to one local Delta table at the same moment, bare or through the lock.

    nice -n 10 .venv/bin/python bench/local_commit_race.py --bare --rounds 40
    nice -n 10 .venv/bin/python bench/local_commit_race.py --locked --rounds 40
    nice -n 10 .venv/bin/python bench/local_commit_race.py --bare --rounds 100 --work /tmp/race

What it shows: on a local file system Delta's default log store (HDFSLogStore) commits
version N by checking that `_delta_log/N.json` does not exist and then renaming its temp
file into place, and a local rename replaces a file that appeared in between. Within one
JVM Delta serialises commits itself, so the race needs two processes: two JVMs can both
"win" version N, and one commit is lost, or one commit's log file sits beside the other's
checksum file and reads fail with a ChecksumException. `pipelines.delta_io.commit` holds
the table's `_commit.lock` (pipelines/commit_lock.py) around the write, so they take turns.

How: two workers (this script with `--worker`, each a fresh interpreter and JVM started
through `pipelines.spark.get_spark()`, like every script in bench/). Worker 0 makes one
empty table per round (copies of one empty Delta table). In round r both workers load
table r, build their rows (worker id, round, row number) and say they are ready; the
parent writes a go file holding a start time 0.2 s ahead; both spin on the clock until
then and append (the summary shows how far apart the two appends started). `--bare`
calls `df.write.format("delta").mode("append").save(path)`, `--locked` the same inside
`pipelines.delta_io.commit(path, ...)`. Each append carries its worker in the commit's
`userMetadata`. After the last round the workers exit and the parent starts its own
session (a fresh JVM: nothing cached) and checks every round's table: every version
reads (else the table is unreadable) and the latest holds the rows of every append that
returned without an error (else a commit was lost).

Measured here (2026-12-07, Hadoop 3.4.2 under Delta 4.4): the race did not show in 143
bare rounds (0 lost commits, 0 unreadable tables; in 13 rounds the two commits were
≤ 1 ms apart and Delta still gave one of them the next version). Hadoop's local rename
looks the destination up once more just before renaming, so both processes win only if
those lookups interleave within microseconds: rare (about 0.1 % of rounds by estimate),
which matches one failure in about a dozen full test runs (test_concurrent_runs). Locked,
100 rounds: commits strictly in turns (350-1,554 ms apart), all rows there. A clean bare
run is therefore no proof that the race cannot happen.

Prints a summary and one JSON line; exits 1 if `--locked` saw a lost commit, an
unreadable table or a write error. The work folder (default: a temp folder) is kept when
given with `--work` or when a table went wrong, else removed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT))  # after PYTHONPATH: a source snapshot there wins

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql.types import IntegerType, StructField, StructType  # noqa: E402

from pipelines.delta_io import commit  # noqa: E402
from pipelines.spark import get_spark  # noqa: E402

WORKERS = 2
SCHEMA = StructType(
    [
        StructField("worker", IntegerType()),
        StructField("round", IntegerType()),
        StructField("row", IntegerType()),
    ]
)
LEAD_SECONDS = 0.2  # the go file names a start time this far ahead
SPIN_SECONDS = 0.002  # the last stretch before it is spun, not slept
POLL_SECONDS = 0.0005
TIMEOUT_SECONDS = 600.0  # no marker for this long: the other side is gone
COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


# --- both sides ----------------------------------------------------------------------


def table_of(work: Path, round_: int) -> str:
    return str(work / "tables" / f"round-{round_:04d}")


def marker(work: Path, name: str) -> Path:
    return work / "sync" / name


def put(path: Path, text: str = "") -> None:
    """Write a marker whole: a reader sees it complete or not at all."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def wait_for(path: Path, workers: list[subprocess.Popen[bytes]] | None = None) -> str:
    """The marker's text once it exists; gives up if a worker exits or nothing comes."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not path.exists():
        if workers and any(w.poll() is not None for w in workers):
            raise SystemExit(f"local_commit_race: a worker exited early (see {path.parents[1]})")
        if time.monotonic() > deadline:
            raise SystemExit(f"local_commit_race: timed out waiting for {path.name}")
        time.sleep(POLL_SECONDS)
    return path.read_text()


def short(error: BaseException) -> str:
    """The error's class and first line (a Java error's text runs to hundreds of lines)."""
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0][:300]}"


# --- a worker ------------------------------------------------------------------------


def make_tables(spark: SparkSession, work: Path, rounds: int) -> None:
    """One empty Delta table per round: copies of one (a table's log holds no paths)."""
    template = str(work / "template")
    spark.createDataFrame([], SCHEMA).write.format("delta").save(template)
    for round_ in range(rounds):
        shutil.copytree(template, table_of(work, round_))


def append_at(
    df: DataFrame, path: str, index: int, locked: bool, start_at: float
) -> dict[str, Any]:
    """Append `df` at `start_at` (epoch seconds), bare or through `delta_io.commit`."""
    writer = df.write.format("delta").mode("append").option("userMetadata", f"worker={index}")

    def write() -> None:
        writer.save(path)

    pause = start_at - time.time() - SPIN_SECONDS
    if pause > 0:
        time.sleep(pause)
    while time.time() < start_at:
        pass
    started = time.time()
    error = None
    try:
        if locked:
            commit(path, write)
        else:
            write()
    except Exception as exc:  # counted; the next round goes on
        error = short(exc)
    return {"started": started, "finished": time.time(), "error": error}


def worker(work: Path, index: int, locked: bool, rounds: int, rows: int) -> None:
    """One racing process: its own session, one append per round at the parent's go."""
    spark = get_spark(app_name=f"commit-race-{index}")
    if index == 0:
        make_tables(spark, work, rounds)
        put(marker(work, "tables"))
    else:
        wait_for(marker(work, "tables"))
    # Warm up on a table of this worker's own: the first writes of a JVM are slow.
    warm = str(work / f"warm-{index}")
    for _ in range(3):
        append_at(spark.createDataFrame([(index, -1, 0)], SCHEMA), warm, index, locked, 0.0)
    results = []
    for round_ in range(rounds):
        path = table_of(work, round_)
        spark.read.format("delta").load(path).count()  # its state loaded before the race
        df = spark.createDataFrame([(index, round_, i) for i in range(rows)], SCHEMA)
        put(marker(work, f"ready-{round_}-{index}"))
        start_at = float(wait_for(marker(work, f"go-{round_}")))
        results.append({"round": round_, **append_at(df, path, index, locked, start_at)})
    put(work / f"result-{index}.json", json.dumps(results))
    spark.stop()


# --- the parent ----------------------------------------------------------------------


def commit_versions(path: str) -> list[int]:
    names = os.listdir(Path(path) / "_delta_log")
    return sorted(int(m.group(1)) for m in map(COMMIT_FILE.match, names) if m)


def commit_times(path: str) -> dict[int, int]:
    """Per worker, the commitInfo timestamp (ms) of its append that is in the log."""
    found: dict[int, int] = {}
    for version in commit_versions(path):
        log_file = Path(path) / "_delta_log" / f"{version:020d}.json"
        for line in log_file.read_text().splitlines():
            info = json.loads(line).get("commitInfo") or {} if line.strip() else {}
            owner = str(info.get("userMetadata") or "")
            if owner.startswith("worker="):
                found[int(owner.removeprefix("worker="))] = int(info["timestamp"])
    return found


def check_table(spark: SparkSession, path: str, rows: int, wrote: list[bool]) -> dict[str, Any]:
    """Read every version of one round's table; compare the latest with what was appended."""
    unreadable: dict[str, str] = {}
    for version in commit_versions(path):
        try:
            spark.read.format("delta").option("versionAsOf", version).load(path).count()
        except Exception as exc:
            unreadable[str(version)] = short(exc)
    counts: dict[int, int] = {}
    lost: list[int] = []
    if not unreadable:
        table = spark.read.format("delta").load(path)
        counts = {r["worker"]: r["count"] for r in table.groupBy("worker").count().collect()}
        lost = [w for w in range(WORKERS) if wrote[w] and counts.get(w, 0) != rows]
    return {
        "versions": commit_versions(path),
        "unreadable": unreadable,
        "rows_per_worker": {str(w): c for w, c in sorted(counts.items())},
        "lost_workers": lost,
        "commit_ms": {str(w): t for w, t in sorted(commit_times(path).items())},
    }


def race(work: Path, locked: bool, rounds: int, rows: int) -> list[dict[str, Any]]:
    """Start the workers, give each round's go, return each worker's per-round results."""
    (work / "sync").mkdir(parents=True)
    mode = "--locked" if locked else "--bare"
    workers = []
    for index in range(WORKERS):
        command = [sys.executable, str(Path(__file__).resolve()), mode, "--work", str(work)]
        command += ["--rounds", str(rounds), "--rows", str(rows), "--worker", str(index)]
        with open(work / f"worker-{index}.log", "wb") as log_file:
            workers.append(
                subprocess.Popen(command, cwd=PROJECT, stdout=log_file, stderr=subprocess.STDOUT)
            )
    try:
        for round_ in range(rounds):
            for index in range(WORKERS):
                wait_for(marker(work, f"ready-{round_}-{index}"), workers)
            put(marker(work, f"go-{round_}"), repr(time.time() + LEAD_SECONDS))
        for index, process in enumerate(workers):
            if process.wait(timeout=TIMEOUT_SECONDS) != 0:
                raise SystemExit(f"local_commit_race: worker {index} failed (see {work})")
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
    return [json.loads((work / f"result-{i}.json").read_text()) for i in range(WORKERS)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summarise(
    locked: bool, rows: int, results: list[list[dict[str, Any]]], tables: list[dict[str, Any]]
) -> dict[str, Any]:
    rounds = len(tables)
    errors = [r["error"] for per_worker in results for r in per_worker if r["error"]]
    skew = [abs(results[0][r]["started"] - results[1][r]["started"]) for r in range(rounds)]
    gaps = [
        abs(t["commit_ms"]["0"] - t["commit_ms"]["1"])
        for t in tables
        if len(t["commit_ms"]) == WORKERS
    ]
    bad = [r for r, t in enumerate(tables) if t["unreadable"] or t["lost_workers"]]
    first = min(r["started"] for per_worker in results for r in per_worker)
    last = max(r["finished"] for per_worker in results for r in per_worker)
    return {
        "mode": "locked" if locked else "bare",
        "rounds": rounds,
        "rows_per_append": rows,
        "lost_commits": sum(len(t["lost_workers"]) for t in tables),
        "unreadable_tables": sum(1 for t in tables if t["unreadable"]),
        "checksum_exceptions": sum(
            1 for t in tables if any("ChecksumException" in e for e in t["unreadable"].values())
        ),
        "write_errors": len(errors),
        "write_error_kinds": sorted({e.split(":")[0] for e in errors}),
        "bad_rounds": bad,
        "start_skew_ms": {"median": ms(statistics.median(skew)), "max": ms(max(skew))},
        "commit_gap_ms": {
            "rounds_with_both": len(gaps),
            "le_1": sum(g <= 1 for g in gaps),
            "le_10": sum(g <= 10 for g in gaps),
            "median": statistics.median(gaps) if gaps else None,
        },
        "race_wall_seconds": round(last - first, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def report(summary: dict[str, Any], tables: list[dict[str, Any]], total: float) -> None:
    s = summary
    print(f"mode {s['mode']}: {s['rounds']} rounds, 2 processes x {s['rows_per_append']} rows")
    print(f"  lost commits       {s['lost_commits']}  (an append returned, its rows are gone)")
    print(
        f"  unreadable tables  {s['unreadable_tables']}  "
        f"({s['checksum_exceptions']} with a ChecksumException)"
    )
    print(f"  write errors       {s['write_errors']}  {', '.join(s['write_error_kinds'])}")
    print(
        f"  start skew         median {s['start_skew_ms']['median']} ms, "
        f"max {s['start_skew_ms']['max']} ms"
    )
    gap = s["commit_gap_ms"]
    print(
        f"  commit gap         <= 1 ms in {gap['le_1']}, <= 10 ms in {gap['le_10']} of "
        f"{gap['rounds_with_both']} rounds with both commits, median {gap['median']} ms"
    )
    print(f"  wall time          {s['race_wall_seconds']} s racing, {round(total, 1)} s in all")
    for round_ in s["bad_rounds"]:
        t = tables[round_]
        print(
            f"  round {round_}: versions {t['versions']}, rows {t['rows_per_worker']}, "
            f"lost {t['lost_workers']}, unreadable {t['unreadable']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--bare", action="store_false", dest="locked", help="plain Delta append")
    mode.add_argument("--locked", action="store_true", help="append through delta_io.commit")
    parser.set_defaults(locked=False)
    parser.add_argument("--rounds", type=int, default=40, help="races, one table each")
    parser.add_argument("--rows", type=int, default=3, help="rows per append")
    parser.add_argument("--work", type=Path, help="work folder (new; kept)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.work, args.worker, args.locked, args.rounds, args.rows)
        return 0

    started = time.perf_counter()
    work = (args.work or Path(tempfile.mkdtemp(prefix="commit-race-"))).resolve()
    if args.work and args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"local_commit_race: {args.work} is not empty")
    results = race(work, args.locked, args.rounds, args.rows)
    spark = get_spark(app_name="commit-race-check")  # a fresh JVM: no cached table state
    tables = [
        check_table(spark, table_of(work, r), args.rows, [not w[r]["error"] for w in results])
        for r in range(args.rounds)
    ]
    spark.stop()
    summary = summarise(args.locked, args.rows, results, tables)
    report(summary, tables, time.perf_counter() - started)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    went_wrong = bool(summary["bad_rounds"] or summary["write_errors"])
    summary["work"] = str(work) if args.work or went_wrong else None
    print(json.dumps(summary), flush=True)
    if summary["work"] is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if args.locked and went_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
