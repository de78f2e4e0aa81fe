"""CPU seconds per kind of JVM thread while a command runs (Linux /proc only).

    .venv/bin/python bench/thread_cpu.py -- .venv/bin/lakehouse run --landing L --lakehouse W

Samples every Spark driver JVM (`SparkSubmit`) the command starts, every half second, and
keeps each thread's last reading; at the end it sums them by thread name with the trailing
number cut off ("C2 CompilerThread0" and "…1" are one kind). It answers where a short run's
CPU goes: the JIT compilers, the executor tasks, the driver's own threads (py4j: query
planning, code generation, the Delta log), garbage collection. A thread that ends between
two samples loses at most its last half second.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import time
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def driver_jvms() -> list[Path]:
    found = []
    for pid in PROC.iterdir():
        if not pid.name.isdigit():
            continue
        try:
            argv = (pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"java") and b"org.apache.spark.deploy.SparkSubmit" in argv:
            found.append(pid)
    return found


def thread_cpu(jvm: Path) -> dict[str, tuple[str, float]]:
    """{thread id: (name, user + system seconds)} of one process."""
    readings = {}
    try:
        tasks = list((jvm / "task").iterdir())
    except OSError:
        return readings
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        readings[f"{jvm.name}/{task.name}"] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    started = time.perf_counter()
    process = subprocess.Popen(command)
    last: dict[str, tuple[str, float]] = {}
    while process.poll() is None:
        for jvm in driver_jvms():
            last.update(thread_cpu(jvm))
        time.sleep(0.5)
    wall = time.perf_counter() - started
    kinds: collections.Counter[str] = collections.Counter()
    for name, seconds in last.values():
        kinds[re.sub(r"[\d#\- ]+$", "", name)] += seconds
    print(f"exit {process.returncode}; wall {wall:.1f} s; JVM threads {sum(kinds.values()):.1f} s")
    for kind, seconds in kinds.most_common(12):
        print(f"{seconds:8.1f}  {kind}")


if __name__ == "__main__":
    main()
