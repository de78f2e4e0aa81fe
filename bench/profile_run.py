"""Profile ONE `lakehouse run` as a user runs it: where its wall time goes (issue 12).

    .venv/bin/python bench/profile_run.py contract               # the contract example
    .venv/bin/python bench/profile_run.py incremental            # 1 day of 4,000 after 5 days
    .venv/bin/python bench/profile_run.py demo                   # 50,000 records over 5 dates
    .venv/bin/python bench/profile_run.py existing --landing L --lakehouse W [--date D]

The run is a subprocess (`.venv/bin/lakehouse run ...`, or --lakehouse-cmd), so this keeps
working whatever the internals become. Three sources, joined on the wall clock:

* the CLI's progress lines, time-stamped as they arrive: `  <assets> ...` / `done in Xs`
  delimit a step, `    check <target>: passed` ends a check (it started at the line before);
* Spark's event log (LAKEHOUSE_SPARK_CONF gets `spark.eventLog.*`): jobs and SQL
  executions with their times, what each execution scans (Delta tables, Delta logs =
  snapshot rebuilds), MERGE / write / DESCRIBE HISTORY, and Python call sites;
* the lakehouse folder, polled: every new `_delta_log/NNN.json` (Delta commit) and
  checkpoint, attributed to a window by its mtime (scratch tables removed later included).

Per window (start-up, each step, each check, gaps between them): wall seconds, Spark jobs,
SQL executions, commits, table reads, snapshot rebuilds, and the time no Spark job or SQL
execution was running (Python, Dagster, GX, py4j). Prints the top costs and writes JSON to
bench/results/ (git-ignored). Unless --no-floor, bench/floor.py runs on the same ingest
dates just before the profiled run, so every figure has its floor from the same hour.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "bench" / "results"
CONTRACT_LANDING = PROJECT / "tests" / "fixtures" / "contract_examples" / "landing"
DEFAULT_CMD = str(PROJECT / ".venv" / "bin" / "lakehouse")

# --- progress lines ------------------------------------------------------------------------

PREFIX = r"^(?:\[lakehouse\] )?"
RUN_LINE = re.compile(PREFIX + r"\s*run \S+:")
CHECK = re.compile(PREFIX + r"\s+check (?P<target>\S+): (?P<state>passed|FAILED|warning)")
STEP_START = re.compile(PREFIX + r"\s{2}(?P<label>\S.*?) \.\.\.$")
STEP_DONE = re.compile(PREFIX + r"\s{2}(?P<label>\S.*?) done in (?P<seconds>[\d.]+)s$")
STEP_FAILED = re.compile(PREFIX + r"\s{2}(?P<label>\S.*?) FAILED: (?P<why>.*)$")
DONE_LINE = re.compile(PREFIX + r"\s*done in (?P<seconds>[\d.]+)s")


@dataclass
class Line:
    """One output line of the run and when it arrived."""

    at: float  # epoch seconds when the line arrived
    text: str


@dataclass
class Window:
    """A stretch of the run's wall time: start-up, a step, a check, a gap, the exit."""

    kind: str  # startup | launch | step | check | gap | summary | exit
    name: str
    start: float
    end: float
    state: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def group(self) -> str:
        """Windows of one kind of work: all gx_suite checks, all gaps, each step."""
        if self.kind == "check":
            return f"check {self.name.rsplit(':', 1)[-1]}"
        if self.kind == "step":
            return f"step {self.name}"
        return self.kind


def short_label(label: str) -> str:
    """`quarantine/events, silver/a, silver/b` -> `quarantine+silver`; one asset stays."""
    assets = [a.strip() for a in label.split(",")]
    if len(assets) == 1:
        return assets[0]
    return "+".join(dict.fromkeys(a.split("/")[0] for a in assets))


def windows_from_lines(lines: list[Line], started: float, ended: float) -> list[Window]:
    """Cut the run's wall time at its progress lines; every second lands in one window.

    Check lines printed together (one check function covering several tables) make one
    window with their targets in order; `split_checks` cuts it later from the event log.
    """
    windows: list[Window] = []
    mark, mark_kind = started, "startup"
    open_step: tuple[str, float] | None = None

    def close(kind: str, name: str, at: float, state: str = "") -> None:
        nonlocal mark
        if at > mark or kind in ("step", "check"):
            windows.append(Window(kind, name, mark, at, state))
        mark = at

    for line in lines:
        text = line.text.rstrip()
        if match := CHECK.match(text):
            target, state = match["target"], match["state"]
            check = target.rsplit(":", 1)[-1]
            previous = windows[-1] if windows else None
            if (
                previous is not None
                and previous.kind == "check"
                and previous.name.rsplit(":", 1)[-1] == check
                and line.at - previous.end < 0.25
            ):  # printed with the previous one: reported together, run one after another
                previous.stats["targets"].append(target)
                previous.stats["states"].append(state)
                previous.end = mark = line.at
                if state != "passed":
                    previous.state = state
                continue
            close("check", target, line.at, state)
            windows[-1].stats.update(targets=[target], states=[state])
            mark_kind = "gap"
        elif RUN_LINE.match(text):
            close("startup", "process start to the run's first line", line.at)
            mark_kind = "launch"
        elif match := STEP_DONE.match(text):
            label = short_label(match["label"])
            step_start = open_step[1] if open_step else mark
            windows.append(Window("step", label, step_start, line.at, "done"))
            mark, open_step, mark_kind = line.at, None, "gap"
        elif match := STEP_START.match(text):
            launch = mark_kind in ("launch", "startup")
            close(
                "launch" if launch else "gap",
                "to the first step" if launch else "between steps",
                line.at,
            )
            open_step = (short_label(match["label"]), line.at)
            mark_kind = "step"
        elif match := STEP_FAILED.match(text):
            label = short_label(match["label"])
            if open_step and open_step[0] == label:
                windows.append(Window("step", label, open_step[1], line.at, "FAILED"))
                mark, open_step = line.at, None
            else:  # a check step that raised
                close("check", label, line.at, "FAILED")
                windows[-1].stats.update(targets=[label], states=["FAILED"])
            mark_kind = "gap"
        elif DONE_LINE.match(text):
            close("summary", "to the run's summary line", line.at)
            mark_kind = "exit"
    if open_step:  # the run died inside a step
        windows.append(Window("step", open_step[0], open_step[1], ended, "unfinished"))
        mark = ended
    close("exit" if mark_kind == "exit" else "gap", "summary to process exit", ended)
    for window in windows:
        targets = window.stats.get("targets", [])
        if len(targets) > 1:
            check = targets[0].rsplit(":", 1)[-1]
            layers = "+".join(dict.fromkeys(t.split("/")[0] for t in targets))
            window.name = f"{layers}/*:{check} x{len(targets)}"
    return windows


def split_checks(windows: list[Window], ops: list[dict[str, Any]]) -> list[Window]:
    """One window per table for suites reported together: each suite starts by reading
    its own table (the rows it validates), so the first read of the next table ends it."""
    out: list[Window] = []
    for window in windows:
        targets = window.stats.get("targets", [])
        tables = [t.rsplit(":", 1)[0] for t in targets]
        if (
            len(targets) < 2
            or not targets[0].endswith(":gx_suite")
            or len(set(tables)) != len(tables)
        ):
            out.append(window)
            continue
        inside = [o for o in ops if window.start <= o["start"] < window.end]
        cuts = [window.start]
        for table in tables[1:]:
            later = [
                o["start"]
                for o in inside
                if o["start"] >= cuts[-1]
                and table in o["reads"] + o["cached_reads"] + o["snapshot_rebuilds"]
            ]
            if not later:
                break
            cuts.append(min(later))
        if len(cuts) < len(tables):  # a suite read nothing we can see: keep them together
            out.append(window)
            continue
        cuts.append(window.end)
        states = window.stats.get("states", [window.state] * len(targets))
        for i, target in enumerate(targets):
            part = Window("check", target, cuts[i], cuts[i + 1], states[i])
            part.stats.update(targets=[target], states=[states[i]], split_from=window.name)
            out.append(part)
    return out


# --- the run ---------------------------------------------------------------------------------


class CommitWatcher:
    """Polls the lakehouse for Delta commit and checkpoint files (path -> mtime)."""

    LOG_FILE = re.compile(r"^\d{20}\.(?:json|checkpoint\..*parquet|checkpoint\.parquet)$")

    def __init__(self, root: Path, every: float = 0.5) -> None:
        self.root = root
        self.every = every
        self.before = self.scan()
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def scan(self) -> dict[str, float]:
        found: dict[str, float] = {}
        if not self.root.exists():
            return found
        for folder, dirs, files in os.walk(self.root):
            if os.path.basename(folder) == "_delta_log":
                for name in files:
                    if self.LOG_FILE.match(name):
                        path = os.path.join(folder, name)
                        try:
                            found[path] = os.stat(path).st_mtime
                        except FileNotFoundError:
                            continue
                dirs[:] = []
            else:  # partition folders and Dagster's/GX's folders hold no tables
                dirs[:] = [d for d in dirs if "=" not in d and d not in ("_dagster", "_data_docs")]
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for path, mtime in self.scan().items():
                self.seen.setdefault(path, mtime)

    def __enter__(self) -> CommitWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for path, mtime in self.scan().items():
            self.seen.setdefault(path, mtime)

    def new_files(self) -> dict[str, float]:
        return {p: t for p, t in self.seen.items() if p not in self.before}


def table_of(path: str, root: Path) -> str:
    """The table a `_delta_log` file or a scanned location belongs to, relative to root."""
    text = path.removeprefix("file:")
    text = text.split("/_delta_log", 1)[0]
    try:
        rel = os.path.relpath(text, root)
    except ValueError:
        return text
    if rel.startswith(".."):
        return text
    # Scratch tables of one run (`_internal/tmp/<uuid>/candidates`) are one table kind.
    return re.sub(r"/[0-9a-f]{32}/", "/*/", rel)


def spark_conf_with_event_log(event_dir: Path) -> str:
    """The user's LAKEHOUSE_SPARK_CONF plus an uncompressed event log into `event_dir`."""
    own = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": event_dir.as_uri(),
        # Plain JSON lines, one file: readable without a codec the project does not ship.
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
    extra = os.environ.get("LAKEHOUSE_SPARK_CONF", "")
    items = [i for i in extra.replace("\n", ";").split(";") if i.strip()]
    items += [f"{k}={v}" for k, v in own.items()]
    return ";".join(items)


def run_command(
    command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float
) -> tuple[list[Line], float, float, int]:
    """Run it, time-stamping each output line as it arrives; keep the output in `log`."""
    lines: list[Line] = []
    started = time.time()
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
            cwd=cwd,
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        assert process.stdout is not None
        try:
            for text in process.stdout:
                at = time.time()
                lines.append(Line(at, text.rstrip("\n")))
                out.write(f"{at - started:9.3f} {text}")
            returncode = process.wait()
        finally:
            timer.cancel()
    return lines, started, time.time(), returncode


# --- Spark's event log -----------------------------------------------------------------------

SKIP_EVENTS = (
    '{"Event":"SparkListenerTask',
    '{"Event":"SparkListenerStage',
    '{"Event":"SparkListenerBlock',
    '{"Event":"SparkListenerExecutor',
    '{"Event":"SparkListenerUnpersist',
    '{"Event":"org.apache.spark.sql.execution.ui.SparkListenerDriverAccumUpdates',
)
SCAN = re.compile(
    r"Location: (?:PreparedDeltaFileIndex|TahoeBatchFileIndex|TahoeLogFileIndex|TahoeFileIndex)"
    r"[^\[\n]*\[(file:[^\],\n]+)"
)
LOG_SCAN = re.compile(r"Location: DeltaLogFileIndex[^\[\n]*\[(file:[^\],\n]+?)/_delta_log/")
TREE_NODE = re.compile(r"^[\s:+\-*]*(?P<name>[A-Za-z][^()]*?) \((?P<id>\d+)\)$")
WRITE_TARGET = re.compile(r"SaveIntoDataSourceCommand\n(?:Arguments: [^\n]*?path=([^,\]\n]+))")
MERGE_TARGET = re.compile(r"MergeIntoCommand\nArguments: .*?Delta\[version=\d+, (file:[^\]]+)\]")
HISTORY_TARGET = re.compile(r"DescribeDeltaHistoryCommand\nArguments: DeltaTableV2\([^,]+,([^,]+),")
WRITES = ("MERGE", "write", "write local rows", "DESCRIBE HISTORY")
SITE = re.compile(r"^(?P<verb>\w+) at (?P<where>\S+?)(?::(?P<line>\d+))?$")


@dataclass
class Job:
    """A Spark job from the event log (times in epoch seconds)."""

    id: int
    start: float
    end: float = 0.0
    description: str = ""
    execution: int | None = None
    stages: int = 0
    tasks: int = 0


@dataclass
class Execution:
    """An SQL execution from the event log, with what its plan scans."""

    id: int
    root: int
    start: float
    end: float = 0.0
    description: str = ""
    operation: str = "query"
    target: str = ""
    # Delta locations scanned; `cached` ones sit under an InMemoryRelation (cache key, path):
    # only the first execution over a cache reads the table, the others read memory.
    scans: set[str] = field(default_factory=set)
    cached: set[tuple[str, str]] = field(default_factory=set)
    log_scans: set[str] = field(default_factory=set)
    cached_logs: set[tuple[str, str]] = field(default_factory=set)


def plan_scans(plan: str) -> tuple[set[str], set[tuple[str, str]], set[str], set[tuple[str, str]]]:
    """Delta tables and Delta logs a physical plan scans, split into direct and cached."""
    tree, _, details = plan.partition("\n\n\n")
    under: dict[str, str] = {}  # node id -> id of the InMemoryRelation above it
    stack: list[tuple[int, str]] = []
    for line in tree.split("\n")[1:]:
        match = TREE_NODE.match(line)
        if not match:
            continue
        indent = match.start("name")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            under[match["id"]] = stack[-1][1]
        if match["name"].startswith("InMemoryRelation"):
            stack.append((indent, match["id"]))
    blocks: dict[str, str] = {}
    for block in details.split("\n\n"):
        head = re.match(r"\((\d+)\) ", block)
        if head:
            blocks.setdefault(head[1], block)
    scans: set[str] = set()
    cached: set[tuple[str, str]] = set()
    logs: set[str] = set()
    cached_logs: set[tuple[str, str]] = set()
    for node, block in blocks.items():
        found, found_logs = SCAN.findall(block), LOG_SCAN.findall(block)
        if not (found or found_logs):
            continue
        relation = under.get(node)
        if relation is None:
            scans.update(found)
            logs.update(found_logs)
        else:  # the relation's arguments (its attribute ids) name one cached DataFrame
            key = blocks.get(relation, relation).split("\n", 2)[-1][:400]
            cached.update((key, f) for f in found)
            cached_logs.update((key, f) for f in found_logs)
    return scans, cached, logs, cached_logs


def event_log_files(event_dir: Path) -> list[Path]:
    """The application's log: one file, or the parts of a rolling `eventlog_v2_*` folder."""
    found = [p for p in event_dir.iterdir() if not p.name.startswith(".")]
    if not found:
        raise SystemExit(f"profile: no Spark event log in {event_dir}")
    app = max(found, key=lambda p: p.stat().st_mtime)
    if app.is_dir():
        parts = [p for p in app.iterdir() if p.name.startswith("events_")]
        return sorted(parts, key=lambda p: int(p.name.split("_")[1]))
    return [app]


def read_events(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """The events this profile uses; tasks, stages and the like are skipped unparsed."""
    for path in files:
        if path.suffix in (".zstd", ".lz4", ".snappy", ".lzf"):
            raise SystemExit(f"profile: {path.name} is compressed; run with the conf printed")
        with path.open() as handle:
            for line in handle:
                if not line.startswith(SKIP_EVENTS):
                    yield json.loads(line)


def operation_of(plan: str) -> tuple[str, str]:
    """What an SQL execution does, from its physical plan, and the Delta table it changes."""
    if "CommandResult (" in plan.partition("\n\n\n")[0]:
        return "command result", ""  # an action on spark.sql(<command>)'s stored result
    if match := MERGE_TARGET.search(plan):
        return "MERGE", match[1]
    if "MergeIntoCommand" in plan:
        return "MERGE", ""
    if match := HISTORY_TARGET.search(plan):
        return "DESCRIBE HISTORY", match[1].strip()
    if "DescribeDeltaHistory" in plan:
        return "DESCRIBE HISTORY", ""
    if match := WRITE_TARGET.search(plan):
        # rows made in Python (createDataFrame): an empty table created, or a few log rows
        local = re.search(r"SaveIntoDataSourceCommand \(\d+\)\n\s*\+- LogicalRDD", plan)
        return ("write local rows" if local else "write"), match[1]
    if "SaveIntoDataSourceCommand" in plan or "WriteIntoDelta" in plan:
        return "write", ""
    if "DescribeDeltaDetail" in plan:
        return "DESCRIBE DETAIL", ""
    if "CreateViewCommand" in plan:
        return "temp view", ""
    first = plan.split("\n", 2)[1] if plan.count("\n") else plan
    if first.startswith("LocalTableScan"):
        return "local rows", ""
    return "query", ""


def parse_event_log(files: list[Path]) -> dict[str, Any]:
    """Jobs, SQL executions and the application's start from the event log."""
    jobs: dict[int, Job] = {}
    executions: dict[int, Execution] = {}
    app: dict[str, float] = {}
    for event in read_events(files):
        kind = event.get("Event", "")
        if kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            execution = props.get("spark.sql.execution.id")
            jobs[event["Job ID"]] = Job(
                id=event["Job ID"],
                start=event["Submission Time"] / 1e3,
                description=props.get("spark.job.description") or props.get("callSite.short") or "",
                execution=int(execution) if execution else None,
                stages=len(event.get("Stage IDs") or []),
                tasks=sum(s.get("Number of Tasks", 0) for s in event.get("Stage Infos") or []),
            )
            if "spark.app.submitTime" in props:
                app.setdefault("submit", int(props["spark.app.submitTime"]) / 1e3)
        elif kind == "SparkListenerJobEnd":
            if event["Job ID"] in jobs:
                jobs[event["Job ID"]].end = event["Completion Time"] / 1e3
        elif kind.endswith("SQLExecutionStart"):
            plan = event.get("physicalPlanDescription") or ""
            operation, target = operation_of(plan)
            scans, cached, logs, cached_logs = plan_scans(plan)
            executions[event["executionId"]] = Execution(
                id=event["executionId"],
                root=event.get("rootExecutionId", event["executionId"]),
                start=event["time"] / 1e3,
                description=(event.get("description") or "").strip().split("\n")[0],
                operation=operation,
                target=target,
                scans=scans,
                cached=cached,
                log_scans=logs,
                cached_logs=cached_logs,
            )
        elif kind.endswith("SQLExecutionEnd"):
            if event["executionId"] in executions:
                executions[event["executionId"]].end = event["time"] / 1e3
        elif kind == "SparkListenerApplicationStart":
            app["start"] = event["Timestamp"] / 1e3
        elif kind == "SparkListenerApplicationEnd":
            app["end"] = event["Timestamp"] / 1e3
    for job in jobs.values():
        job.end = job.end or app.get("end", job.start)
    for execution in executions.values():
        execution.end = execution.end or app.get("end", execution.start)
    return {"jobs": list(jobs.values()), "executions": executions, "app": app}


def call_site(description: str) -> str:
    """`collect at /…/site-packages/great_expectations/…/x.py:12` -> `collect at GX x.py`."""
    if description.startswith("Delta: "):
        return description[:120]
    match = SITE.match(description)
    if not match:
        return description[:80]
    where, verb = match["where"], match["verb"]
    if where.endswith(".java") or where.endswith(".scala") or where == "<unknown>":
        return ""
    if "site-packages/" in where:
        package, _, rest = where.split("site-packages/", 1)[1].partition("/")
        name = {"great_expectations": "GX", "dagster": "Dagster", "pyspark": "pyspark"}.get(
            package, package
        )
        return f"{verb} at {name} {rest.rsplit('/', 1)[-1]}"
    where = "/".join(where.split("/")[-2:])  # pipelines/delta_io.py, wherever the tree is
    return f"{verb} at {where}:{match['line']}" if match["line"] else f"{verb} at {where}"


# --- putting it together ---------------------------------------------------------------------


def union_length(intervals: Iterable[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by any of the intervals."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)
    total, current_start, current_end = 0.0, None, None
    for a, b in clipped:
        if current_end is None or a > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_end is not None:
        total += current_end - current_start
    return total


def window_of(at: float, windows: list[Window]) -> Window | None:
    """The window an instant falls in (the last one for anything after it)."""
    for window in windows:
        if window.start <= at < window.end:
            return window
    return windows[-1] if windows and at >= windows[-1].end else None


def generalize(table: str) -> str:
    """silver/logins -> silver/*: the six silver and five gold tables cost alike."""
    head, _, tail = table.partition("/")
    return f"{head}/*" if head in ("silver", "gold") and tail else table


def root_operations(executions: dict[int, Execution], root: Path) -> list[dict[str, Any]]:
    """One record per root SQL execution (what the Python side asked for), with what it
    and its nested executions did: operation, target, Delta tables read, logs replayed."""
    nested: dict[int, list[Execution]] = defaultdict(list)
    for execution in executions.values():
        nested[execution.root].append(execution)
    seen: set[tuple[str, str]] = set()  # caches already filled: later scans hit memory
    out = []
    for root_id, group in sorted(nested.items(), key=lambda kv: min(e.start for e in kv[1])):
        head = executions.get(root_id) or min(group, key=lambda e: e.start)
        operation, target = head.operation, head.target
        for execution in group:  # a MERGE or write inside a query is what it is
            if execution.operation in WRITES and operation in (
                "query",
                "local rows",
            ):
                operation, target = execution.operation, execution.target
            if not target and execution.target and execution.operation == operation:
                target = execution.target
        scans = {table_of(s, root) for e in group for s in e.scans}
        logs = {table_of(s, root) for e in group for s in e.log_scans}
        hits: set[str] = set()
        for e in sorted(group, key=lambda e: e.start):
            for key, where in (*e.cached, *e.cached_logs):
                table = table_of(where, root)
                if (key, where) in seen:
                    hits.add(table)
                    continue
                seen.add((key, where))
                (logs if (key, where) in e.cached_logs else scans).add(table)
        if target:
            target = table_of(target, root)
        out.append(
            {
                "id": root_id,
                "start": head.start,
                "end": max(e.end for e in group),
                "operation": operation,
                "target": target,
                "site": call_site(head.description),
                "reads": sorted(scans),
                "cached_reads": sorted(hits - scans),
                "snapshot_rebuilds": sorted(logs),
            }
        )
    return sorted(out, key=lambda o: o["start"])


def operation_label(op: dict[str, Any], where: str) -> str:
    """`MERGE silver/* [step silver]`, `query of bronze/events (collect at x.py:12) [...]`.

    Python call sites are thread-local in the JVM and go stale: a write or MERGE (which
    sets none) shows the previous call's, so only reads keep theirs."""
    what = op["operation"]
    site = op["site"]
    if site.startswith("Delta: "):  # Delta's own jobs, e.g. a snapshot for a table
        what, site = (
            "Delta " + re.sub(r"\d+", "N", site.replace("Delta: Delta: ", "Delta: "))[7:],
            "",
        )
    if op["target"]:
        what += f" {generalize(op['target'])}"
    elif op["reads"] and what in ("query", "local rows"):
        tables = sorted({generalize(t) for t in op["reads"]})
        what += " of " + ", ".join(tables[:3]) + (" ..." if len(tables) > 3 else "")
    if site and op["operation"] not in ("write", "write local rows", "MERGE", "temp view"):
        what += f" ({site})"
    return f"{what} [{where}]"


def analyse(
    windows: list[Window],
    log: dict[str, Any],
    commits: dict[str, float],
    root: Path,
) -> dict[str, Any]:
    """Per-window figures, the ranked costs and per-table counts of one run."""
    jobs: list[Job] = log["jobs"]
    ops = root_operations(log["executions"], root)
    windows = split_checks(windows, ops)
    job_spans = [(j.start, j.end) for j in jobs]
    sql_spans = [(o["start"], o["end"]) for o in ops]
    snapshot_jobs = [j for j in jobs if "Compute snapshot" in j.description]
    for w in windows:
        in_w = [j for j in jobs if w.start <= j.start < w.end]
        ops_w = [o for o in ops if w.start <= o["start"] < w.end]
        commits_w = [p for p, t in commits.items() if w.start <= t < w.end]
        busy_jobs = union_length(job_spans, w.start, w.end)
        busy_any = union_length(job_spans + sql_spans, w.start, w.end)
        w.stats.update(
            {
                "jobs": len(in_w),
                "tasks": sum(j.tasks for j in in_w),
                "sql": len(ops_w),
                "commits": sum(1 for p in commits_w if p.endswith(".json")),
                "checkpoints": sum(1 for p in commits_w if p.endswith(".parquet")),
                "table_reads": sum(len(o["reads"]) for o in ops_w),
                "cache_hits": sum(len(o["cached_reads"]) for o in ops_w),
                "snapshot_rebuilds": sum(len(o["snapshot_rebuilds"]) for o in ops_w),
                "snapshot_jobs": sum(1 for j in snapshot_jobs if w.start <= j.start < w.end),
                "merges": sum(1 for o in ops_w if o["operation"] == "MERGE"),
                "history": sum(1 for o in ops_w if o["operation"] == "DESCRIBE HISTORY"),
                "spark_job_s": round(busy_jobs, 2),
                "driver_sql_no_job_s": round(busy_any - busy_jobs, 2),
                "outside_spark_s": round(w.seconds - busy_any, 2),
            }
        )

    # Costs: root SQL executions grouped by what they are, plus time outside Spark per
    # kind of window. Rows do not overlap, except that table writers run side by side.
    costs: dict[str, dict[str, Any]] = {}
    for op in ops:
        where = window_of(op["start"], windows)
        label = operation_label(op, where.group if where else "?")
        op["label"] = label
        if where is not None:
            where.stats.setdefault("_ops", Counter())[label] += op["end"] - op["start"]
        row = costs.setdefault(
            label, {"cost": label, "kind": "spark", "seconds": 0.0, "count": 0, "where": Counter()}
        )
        row["seconds"] += op["end"] - op["start"]
        row["count"] += 1
        row["where"][where.group if where else "?"] += 1
    for w in windows:
        outside = w.stats["outside_spark_s"]
        label = f"outside Spark: {w.group}"
        row = costs.setdefault(
            label, {"cost": label, "kind": "python", "seconds": 0.0, "count": 0, "where": Counter()}
        )
        row["seconds"] += outside
        row["count"] += 1
        row["where"][w.group] += 1
    ranked = sorted(costs.values(), key=lambda r: -r["seconds"])
    for row in ranked:
        row["seconds"] = round(row["seconds"], 2)
        row["mean_s"] = round(row["seconds"] / row["count"], 3) if row["count"] else 0
        row["where"] = dict(row["where"].most_common())

    per_table: dict[str, Counter[str]] = defaultdict(Counter)
    for path in commits:
        table = table_of(path, root)
        per_table[table]["checkpoints" if path.endswith(".parquet") else "commits"] += 1
    for op in ops:
        for table in op["reads"]:
            per_table[table]["reads"] += 1
        for table in op["snapshot_rebuilds"]:
            per_table[table]["snapshot_rebuilds"] += 1
        if op["operation"] in WRITES and op["target"]:
            per_table[op["target"]][op["operation"]] += 1
    job_kinds: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        job_kinds[re.sub(r"\d+", "N", job.description or "?")].append(job.end - job.start)
    return {
        "windows": [
            {
                "kind": w.kind,
                "name": w.name,
                "state": w.state,
                "seconds": round(w.seconds, 2),
                **{k: v for k, v in w.stats.items() if k != "_ops"},
                "top_ops": [
                    [label, round(seconds, 2)]
                    for label, seconds in w.stats.get("_ops", Counter()).most_common(6)
                ],
            }
            for w in windows
        ],
        "costs": ranked,
        "tables": {t: dict(c) for t, c in sorted(per_table.items())},
        "job_kinds": {
            k: {"jobs": len(v), "seconds": round(sum(v), 2)}
            for k, v in sorted(job_kinds.items(), key=lambda kv: -sum(kv[1]))[:25]
        },
        "totals": {
            "jobs": len(jobs),
            "sql_root": len(ops),
            "sql_all": len(log["executions"]),
            "commits": sum(1 for p in commits if p.endswith(".json")),
            "checkpoints": sum(1 for p in commits if p.endswith(".parquet")),
            "table_reads": sum(len(o["reads"]) for o in ops),
            "snapshot_rebuilds": sum(len(o["snapshot_rebuilds"]) for o in ops),
            "snapshot_jobs": len(snapshot_jobs),
            "merges": sum(1 for o in ops if o["operation"] == "MERGE"),
            "describe_history": sum(1 for o in ops if o["operation"] == "DESCRIBE HISTORY"),
            "spark_job_s": round(union_length(job_spans, 0, float("inf")), 2),
            "outside_spark_s": round(sum(w.stats["outside_spark_s"] for w in windows), 2),
            "driver_sql_no_job_s": round(sum(w.stats["driver_sql_no_job_s"] for w in windows), 2),
        },
    }


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    """Where the profiled run reads and writes, and what setting it up took."""

    name: str
    landing: Path
    root: Path
    dates: list[str]  # empty: every date in the landing zone
    setup_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def lakehouse(args: argparse.Namespace) -> list[str]:
    """The CLI as a command list (a snapshot is run as `python -m entrypoints.cli`)."""
    return shlex.split(args.lakehouse_cmd)


def child_env(args: argparse.Namespace, spark_conf: str | None = None) -> dict[str, str]:
    """The environment of every child: unbuffered output, the source tree, the event log."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(args.pythonpath).resolve()), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        # A source snapshot has no `.jars/` of its own: use the checkout's.
        env.setdefault("LAKEHOUSE_JARS_DIR", str(PROJECT / ".jars"))
    if spark_conf is not None:
        env["LAKEHOUSE_SPARK_CONF"] = spark_conf
    return env


def source_dir(args: argparse.Namespace) -> Path:
    """The working folder of the CLI: the source tree it runs (`python -m` puts it first)."""
    return Path(args.pythonpath).resolve() if args.pythonpath else PROJECT


def checked(command: list[str], args: argparse.Namespace, what: str) -> float:
    """Run a set-up command; its seconds, or exit when it failed."""
    say(f"{what}: {shlex.join(command)}")
    started = time.perf_counter()
    done = subprocess.run(
        command, env=child_env(args), cwd=source_dir(args), capture_output=True, text=True
    )
    if done.returncode not in (0, 1):  # 1: a gate failed, which some scenarios expect
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"profile: {what} failed with exit code {done.returncode}")
    return round(time.perf_counter() - started, 1)


def prepare(args: argparse.Namespace, work: Path) -> Scenario:
    """Landing zone and lakehouse of the scenario, history built when it needs one."""
    landing, root = work / "landing", work / "lakehouse"
    if args.scenario == "contract":
        shutil.copytree(CONTRACT_LANDING, landing)
        return Scenario("contract", landing, root, [])
    if args.scenario == "demo":
        seconds = checked(
            [*lakehouse(args), "generate", "--landing", str(landing), "--days", str(args.days)]
            + ["--records", str(args.records), "--seed", str(args.seed)],
            args,
            "generate",
        )
        return Scenario("demo", landing, root, [], {"generate": seconds})
    if args.scenario == "incremental":
        new = date.fromisoformat(args.end_date)
        history_end = new - timedelta(days=1)
        scenario = Scenario("incremental", landing, root, [new.isoformat()])
        if args.reuse_history:
            source = Path(args.reuse_history)
            shutil.copytree(source / "landing", landing)
            shutil.copytree(source / "lakehouse", root, symlinks=True)
            scenario.notes.append(f"history copied from {source}")
        else:
            # History of another seed than the new day: the two generations draw from one
            # random stream otherwise, and could repeat each other's event ids.
            scenario.setup_seconds["generate history"] = checked(
                [*lakehouse(args), "generate", "--landing", str(landing)]
                + ["--days", str(args.history_days), "--seed", str(args.history_seed)]
                + ["--records", str(args.records * args.history_days)]
                + ["--end-date", history_end.isoformat()],
                args,
                "generate history",
            )
            scenario.setup_seconds["run history"] = checked(
                [*lakehouse(args), "run", "--landing", str(landing), "--lakehouse", str(root)],
                args,
                f"history run ({args.history_days} dates, not profiled)",
            )
        scenario.setup_seconds["generate new date"] = checked(
            [*lakehouse(args), "generate", "--landing", str(landing), "--days", "1"]
            + ["--records", str(args.records), "--seed", str(args.seed)]
            + ["--end-date", new.isoformat()],
            args,
            "generate the new date",
        )
        return scenario
    return Scenario(
        "existing", Path(args.landing).resolve(), Path(args.lakehouse).resolve(), args.dates or []
    )


def run_floor(args: argparse.Namespace, scenario: Scenario) -> dict[str, Any]:
    """bench/floor.py on the run's dates, in its own process (its own fresh JVM)."""
    command = [sys.executable, str(PROJECT / "bench" / "floor.py"), "--landing"]
    command += [str(scenario.landing)] + [a for d in scenario.dates for a in ("--date", d)]
    say("floor: " + shlex.join(command))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(args))
    outer = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        return {"error": f"floor failed with exit code {done.returncode}"}
    result = json.loads(lines[-1])
    result["process_seconds"] = round(outer, 2)  # includes the JVM's shutdown
    return result


def profile(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the scenario, run the floor, run and record `lakehouse run`, analyse."""
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lakehouse-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        scenario = prepare(args, work)
        floor = {} if args.no_floor else run_floor(args, scenario)
        event_dir = work / f"eventlog-{int(time.time())}"
        event_dir.mkdir()
        command = [*lakehouse(args), "run", "--landing", str(scenario.landing)]
        command += ["--lakehouse", str(scenario.root)]
        command += [a for d in scenario.dates for a in ("--date", d)]
        env = child_env(args, spark_conf_with_event_log(event_dir))
        load_before = os.getloadavg()[0]
        code = args.code_label or (f"PYTHONPATH {args.pythonpath}" if args.pythonpath else "")
        say("profiled run: " + shlex.join(command))
        with CommitWatcher(scenario.root) as watcher:
            lines, started, ended, returncode = run_command(
                command, env, source_dir(args), work / "run-output.txt", args.timeout
            )
        say(f"run finished in {ended - started:.1f}s (exit {returncode}); reading the event log")
        record = {
            "scenario": scenario.name,
            "command": shlex.join(command),
            "exit_code": returncode,
            "started": started,
            "ended": ended,
            "lines": [[line.at, line.text] for line in lines],
            "commits": watcher.new_files(),
            "root": str(scenario.root),
            "event_dir": str(event_dir),
            "floor": floor,
            "setup_seconds": scenario.setup_seconds,
            "notes": scenario.notes,
            "environment": environment(load_before, code),
        }
        (work / "run.json").write_text(json.dumps(record))
        result = analyse_record(record)
        result["work"] = str(work) if args.keep or args.work else None
        return result
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)


def analyse_record(record: dict[str, Any]) -> dict[str, Any]:
    """The profile of a recorded run (`run.json` of a work folder and its event log)."""
    lines = [Line(at, text) for at, text in record["lines"]]
    started, ended = record["started"], record["ended"]
    windows = windows_from_lines(lines, started, ended)
    log = parse_event_log(event_log_files(Path(record["event_dir"])))
    analysis = analyse(windows, log, record["commits"], Path(record["root"]))
    app = log["app"]
    startup = {}
    if "submit" in app:  # the JVM's launch, then the SparkContext, from the process start
        startup["process_to_jvm_submit_s"] = round(app["submit"] - started, 2)
    if "start" in app:
        startup["process_to_spark_context_s"] = round(app["start"] - started, 2)
    jobs = sorted(log["jobs"], key=lambda j: j.start)
    if jobs:
        startup["process_to_first_spark_job_s"] = round(jobs[0].start - started, 2)
    floor = record.get("floor") or {}
    wall = ended - started
    return {
        "scenario": record["scenario"],
        "command": record["command"],
        "exit_code": record["exit_code"],
        "wall_seconds": round(wall, 2),
        "floor": floor,
        "ratio_to_floor": round(wall / floor["wall_seconds"], 2)
        if floor.get("wall_seconds")
        else None,
        "startup": startup,
        "setup_seconds": record.get("setup_seconds", {}),
        "notes": record.get("notes", []),
        "environment": record.get("environment", {}),
        **analysis,
        "output_tail": [text for _, text in record["lines"][-40:]],
    }


def environment(load_before: float, code: str = "") -> dict[str, Any]:
    """What ran where: code, time, cores and load (the figures depend on them)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=PROJECT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = len(git("status", "--porcelain").splitlines())
    return {
        "code": code or f"checkout {head}" + (f" + {dirty} changed files" if dirty else ""),
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "checkout_head": head,
        "checkout_changed_files": dirty,
    }


# --- output ----------------------------------------------------------------------------------


def report(result: dict[str, Any], top: int) -> str:
    """The text printed at the end of a profile."""
    out = []
    floor = result.get("floor") or {}
    ratio = f", {result['ratio_to_floor']}x the floor" if result.get("ratio_to_floor") else ""
    out.append(
        f"{result['scenario']}: lakehouse run {result['wall_seconds']:.1f}s "
        f"(exit {result['exit_code']}){ratio}; floor {floor.get('wall_seconds', '-')}s; "
        f"load {result['environment']['load_average_1m']}"
    )
    if result.get("startup"):
        out.append("  start-up: " + ", ".join(f"{k} {v}" for k, v in result["startup"].items()))
    t = result["totals"]
    out.append(
        f"  {t['jobs']} Spark jobs, {t['sql_root']} SQL executions ({t['sql_all']} with nested),"
        f" {t['commits']} Delta commits, {t['checkpoints']} checkpoints, {t['table_reads']} "
        f"table reads, {t['snapshot_rebuilds']} log replays, {t['merges']} MERGEs, "
        f"{t['describe_history']} DESCRIBE HISTORY"
    )
    out.append("")
    header = (
        f"{'window':<44} {'wall s':>7} {'jobs':>5} {'sql':>4} {'commits':>7} {'reads':>5} "
        f"{'replays':>7} {'no-Spark s':>10}"
    )
    out.append(header)
    out.append("-" * len(header))
    for w in result["windows"]:
        if w["kind"] in ("gap", "summary") and w["seconds"] < 0.05 and not w["jobs"]:
            continue  # an empty stretch between two lines printed together
        name = f"{w['kind']} {w['name']}" if w["kind"] not in ("step", "check") else w["name"]
        if w["kind"] == "check":
            name = f"  check {name}"
        out.append(
            f"{name[:44]:<44} {w['seconds']:>7.1f} {w['jobs']:>5} {w['sql']:>4} "
            f"{w['commits']:>7} {w['table_reads']:>5} {w['snapshot_rebuilds']:>7} "
            f"{w['outside_spark_s']:>10.1f}"
        )
    out.append("")
    out.append(f"top {top} costs (Spark rows: sum of SQL execution times; writers overlap)")
    header = f"{'#':>2} {'cost':<78} {'n':>4} {'total s':>8} {'mean s':>7}"
    out.append(header)
    out.append("-" * len(header))
    for i, row in enumerate(result["costs"][:top], 1):
        out.append(
            f"{i:>2} {row['cost'][:78]:<78} {row['count']:>4} {row['seconds']:>8.1f} "
            f"{row['mean_s']:>7.2f}"
        )
    return "\n".join(out)


def markdown(result: dict[str, Any], top: int) -> str:
    """The same figures as bench/README.md's tables, next to the same-run floor."""
    floor = result.get("floor") or {}
    t = result["totals"]
    out = [
        f"**{result['scenario']}**: `lakehouse run` **{result['wall_seconds']:.1f} s** "
        f"(floor {floor.get('wall_seconds', '-')} s, "
        f"{result.get('ratio_to_floor') or '-'}x; load {result['environment']['load_average_1m']}"
        f"; {result['environment'].get('utc', '')}; code: {result['environment'].get('code')})"
        f" — {t['jobs']} Spark jobs, {t['sql_root']} SQL executions, {t['commits']} Delta "
        f"commits, {t['table_reads']} table reads, {t['snapshot_rebuilds']} log replays, "
        f"{t['merges']} MERGEs, {t['describe_history']} DESCRIBE HISTORY; no Spark job or SQL "
        f"running {t.get('outside_spark_s', '-')} s",
        "",
        "| window | wall s | jobs | SQL | commits | reads | log replays | outside Spark s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if floor.get("wall_seconds"):
        spark = floor.get("spark_start_seconds", "-")
        phases = ", ".join(f"{k} {v}" for k, v in floor.get("seconds", {}).items())
        out.append(
            f"| *floor (plain job; Spark start {spark} s; {phases})* | *{floor['wall_seconds']}* "
            f"| | | *{floor.get('delta_commits', '')}* | | | |"
        )
    for w in result["windows"]:
        if w["kind"] in ("gap", "summary") and w["seconds"] < 0.05 and not w["jobs"]:
            continue
        name = w["name"] if w["kind"] in ("step", "check") else f"{w['kind']}: {w['name']}"
        name = f"check {name}" if w["kind"] == "check" else name
        out.append(
            f"| {name} | {w['seconds']:.1f} | {w['jobs']} | {w['sql']} | {w['commits']} | "
            f"{w['table_reads']} | {w['snapshot_rebuilds']} | {w['outside_spark_s']:.1f} |"
        )
    out += ["", "| # | cost | n | total s | mean s |", "|---:|---|---:|---:|---:|"]
    for i, row in enumerate(result["costs"][:top], 1):
        out.append(
            f"| {i} | {row['cost']} | {row['count']} | {row['seconds']:.1f} | {row['mean_s']:.2f} |"
        )
    return "\n".join(out)


def say(text: str) -> None:
    """Progress of the profile itself, on stderr."""
    print(f"[profile {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """Command line of the profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenario",
        choices=("contract", "incremental", "demo", "existing", "reanalyse", "show"),
        help="reanalyse: the recorded run of --work again; show: print a --result JSON",
    )
    parser.add_argument("--result", type=Path, help="show: a JSON this script wrote")
    parser.add_argument("--markdown", action="store_true", help="print bench/README.md tables")
    parser.add_argument(
        "--lakehouse-cmd", default=DEFAULT_CMD, help=f"the CLI to run (default {DEFAULT_CMD})"
    )
    parser.add_argument(
        "--pythonpath", help="run the code of this source tree (e.g. a `git archive` of HEAD)"
    )
    parser.add_argument("--code-label", help="what code ran, for the record (e.g. a commit)")
    parser.add_argument("--work", help="work folder (kept); default: a temp folder, removed")
    parser.add_argument("--keep", action="store_true", help="keep the temp work folder")
    parser.add_argument("--no-floor", action="store_true", help="skip bench/floor.py")
    parser.add_argument("--out", type=Path, help="JSON result (default bench/results/...)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=3600, help="kill the run after this")
    group = parser.add_argument_group("demo / incremental")
    group.add_argument("--records", type=int, help="demo: in all (50000); incremental: per day")
    group.add_argument("--days", type=int, default=5, help="demo: ingest dates (5)")
    group.add_argument("--seed", type=int, help="demo: 42 (as scripts/demo.sh); new day: 7")
    group.add_argument("--history-days", type=int, default=5, help="incremental: history dates")
    group.add_argument("--history-seed", type=int, default=42, help="incremental: history seed")
    group.add_argument("--end-date", default="2026-11-01", help="incremental: the new date")
    group.add_argument(
        "--reuse-history", help="incremental: a kept work folder whose landing+lakehouse to copy"
    )
    group = parser.add_argument_group("existing")
    group.add_argument("--landing")
    group.add_argument("--lakehouse")
    group.add_argument("--date", action="append", dest="dates", help="repeatable")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Profile (or re-analyse, or show) one run; print the report and write the JSON."""
    args = build_parser().parse_args(argv)
    if args.records is None:
        args.records = 50_000 if args.scenario == "demo" else 4_000
    if args.seed is None:
        args.seed = 42 if args.scenario == "demo" else 7
    if args.scenario == "existing" and not (args.landing and args.lakehouse):
        raise SystemExit("profile: existing needs --landing and --lakehouse")
    if args.scenario == "show" and not args.result:
        raise SystemExit("profile: show needs --result FILE")
    if args.scenario == "reanalyse" and not args.work:
        raise SystemExit("profile: reanalyse needs --work (a kept work folder)")
    if args.scenario == "show":
        result = json.loads(args.result.read_text())
        print(markdown(result, args.top) if args.markdown else report(result, args.top))
        return 0
    if args.scenario == "reanalyse":
        record = json.loads((Path(args.work) / "run.json").read_text())
        result = analyse_record(record)
    else:
        result = profile(args)
    text = report(result, args.top)
    print(markdown(result, args.top) if args.markdown else text)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"profile-{result['scenario']}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "report": text.splitlines()}, indent=1, default=str))
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
