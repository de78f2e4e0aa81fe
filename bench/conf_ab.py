"""Time one-date runs in a fresh session with extra Spark settings (A/B of local settings).

    .venv/bin/python bench/conf_ab.py LABEL '{"spark.sql.codegen.factoryMode": "NO_CODEGEN"}'
    .venv/bin/python bench/conf_ab.py LABEL '{}' --checks

One process per setting (static settings need a new JVM): start a session with the
settings on top of the project's own, then process the contract example's four dates as
four one-date runs into a new lakehouse, the first one cold, as the tests run them.
Prints one JSON line: session start, each run's seconds, the whole. Run settings in turn
(A B B A ...) and compare neighbours: this machine's speed drifts within the hour.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))

from lakehouse_testing import copy_landing, run_pipeline  # noqa: E402

from pipelines.config import SparkSettings  # noqa: E402
from pipelines.spark import get_spark  # noqa: E402

EXAMPLES = PROJECT / "tests" / "fixtures" / "contract_examples"
DATES = [date(2026, 10, d) for d in (20, 21, 23, 22)]  # the gated date last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label")
    parser.add_argument("conf", help="JSON object of extra Spark settings")
    parser.add_argument("--checks", action="store_true", help="run every check too")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix=f"conf-ab-{args.label}-"))
    try:
        started = time.time()
        spark = get_spark(SparkSettings(extra_conf=json.loads(args.conf)), app_name="conf-ab")
        start = time.time() - started
        landing = copy_landing(EXAMPLES, work / "landing")
        runs = []
        for day in DATES:
            began = time.time()
            run_pipeline(spark, str(landing), str(work / "lh"), [day], with_checks=args.checks)
            runs.append(round(time.time() - began, 1))
        whole = round(time.time() - started, 1)
        print(
            json.dumps(
                {"label": args.label, "start": round(start, 1), "runs": runs, "whole": whole}
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
