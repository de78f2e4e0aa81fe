"""One Spark session per test process, and the built lakehouses tests share.

`scripts/test.sh` runs the tests in two processes (pytest-xdist, one per core here), a
test file at a time in each. A lakehouse several files read
(`example_run`) is built once for the whole run, by the first process to need it; the
other waits for it and reads it.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pyspark.sql import SparkSession

from pipelines.config import SparkSettings
from pipelines.spark import get_spark

T = TypeVar("T")

# A copy of ../shared/spec/examples (the contract's worked example), kept read-only.
EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "contract_examples"


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]
) -> T:
    """`build(folder)` run once per test run, however many worker processes ask for it.

    Under xdist the workers' temporary folders share a parent that is new for each run;
    the first worker to get the lock builds there and pickles the result, the others
    wait on the lock and unpickle it. Without xdist this is just `build`.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    shared.mkdir(exist_ok=True)
    done = shared / "result.pickle"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            # Empty what an earlier worker's failed build left, so this build fails (or
            # passes) on its own account rather than on top of half a lakehouse.
            shutil.rmtree(shared / "built", ignore_errors=True)
            result = build(shared / "built")
            done.with_suffix(".tmp").write_bytes(pickle.dumps(result))
            done.with_suffix(".tmp").rename(done)  # a failed build leaves no result
    return pickle.loads(done.read_bytes())


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = get_spark(SparkSettings(), app_name="lakehouse-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    if not EXAMPLES.exists():
        pytest.skip(f"shared contract examples not found at {EXAMPLES}")
    return EXAMPLES


@pytest.fixture(scope="session")
def example_run(spark, examples_dir, tmp_path_factory) -> dict:
    """The contract example processed as it arrives: all dates, then the late file's date.

    Shared, read-only: tests that change a lakehouse copy it first.
    """
    from lakehouse_testing import LATE_DATE, add_late_file, copy_landing, run_pipeline

    def build(base: Path) -> dict:
        landing = copy_landing(examples_dir, base / "landing")
        root = base / "lakehouse"
        # With every check, as `lakehouse run` does: tests assert on the checks' results too.
        first = run_pipeline(spark, str(landing), str(root), with_checks=True)
        add_late_file(examples_dir, landing)
        second = run_pipeline(spark, str(landing), str(root), [LATE_DATE], with_checks=True)
        return {"landing": landing, "root": root, "results": (first, second)}

    return built_once(tmp_path_factory, "example", build)
