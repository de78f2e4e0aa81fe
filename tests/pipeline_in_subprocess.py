"""Run the pipeline over some ingest dates in a fresh process (as a scheduler would).

    python tests/pipeline_in_subprocess.py LANDING LAKEHOUSE [YYYY-MM-DD ...]

Prints one JSON line: the dates processed and the dates the gate held back. The crash
and concurrency tests start several of these at once, or kill one mid-write.
"""

from __future__ import annotations

import json
import sys

from lakehouse_testing import run_pipeline

from pipelines.landing import parse_date
from pipelines.spark import get_spark


def main(landing: str, root: str, dates: list[str]) -> None:
    spark = get_spark(app_name="lakehouse-subprocess")
    result = run_pipeline(spark, landing, root, [parse_date(d) for d in dates] or None)
    summary = {
        "dates": [d.isoformat() for d in result.dates],
        "failed_dates": [d.isoformat() for d in result.failed_dates],
    }
    print(json.dumps(summary), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
