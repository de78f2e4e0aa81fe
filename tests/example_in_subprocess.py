"""Process the contract example in a fresh process, exactly as the `example_run` fixture does.

    python tests/example_in_subprocess.py EXAMPLES_DIR TARGET_DIR

The session comes from the environment (`LAKEHOUSE_SPARK_MASTER`, `SPARK_REMOTE`,
`LAKEHOUSE_SPARK_CONF`), so the cluster and Spark Connect tests run the same pipeline
somewhere else and compare its tables with the local run. Prints one JSON line: the
failed dates of both runs and where the session ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lakehouse_testing import LATE_DATE, add_late_file, copy_landing

from pipelines.run import run_pipeline
from pipelines.spark import get_spark


def main(examples: Path, target: Path) -> None:
    spark = get_spark(app_name="lakehouse-example-elsewhere")
    landing = copy_landing(examples, target / "landing")
    root = target / "lakehouse"
    first = run_pipeline(spark, str(landing), str(root))
    add_late_file(examples, landing)
    second = run_pipeline(spark, str(landing), str(root), [LATE_DATE])
    # A remote (Connect) session has no SparkContext; a classic one says which master it used.
    master = spark.conf.get("spark.master", None)
    print(
        json.dumps(
            {
                "failed_dates": [[d.isoformat() for d in r.failed_dates] for r in (first, second)],
                "master": master,
                "seconds": [r.seconds for r in (first, second)],
            }
        )
    )
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
