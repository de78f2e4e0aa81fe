"""Process the contract example in a fresh process: every date, late file included, one run.

    python tests/example_in_subprocess.py EXAMPLES_DIR TARGET_DIR

The session comes from the environment (`LAKEHOUSE_SPARK_MASTER`, `SPARK_REMOTE`,
`LAKEHOUSE_SPARK_CONF`), so the cluster and Spark Connect tests run the same pipeline
somewhere else and compare its tables with the local `example_run` (which processed the
late file in a second run: order independence makes the tables equal). Prints one JSON
line: the failed dates and where the session ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lakehouse_testing import copy_landing, run_pipeline

from pipelines.spark import get_spark


def main(examples: Path, target: Path) -> None:
    spark = get_spark(app_name="lakehouse-example-elsewhere")
    landing = copy_landing(examples, target / "landing", with_late_file=True)
    result = run_pipeline(spark, str(landing), str(target / "lakehouse"))
    # A remote (Connect) session has no SparkContext; a classic one says which master it used.
    master = spark.conf.get("spark.master", None)
    print(
        json.dumps(
            {
                "failed_dates": [d.isoformat() for d in result.failed_dates],
                "master": master,
                "seconds": result.seconds,
            }
        )
    )
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
