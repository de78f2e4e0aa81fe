"""The one Spark session factory: local by default, a cluster master, or Spark Connect.

Nothing else in the project builds a session, and no code path uses RDDs or JVM
internals, so the same pipeline runs locally, on a standalone cluster and through
Spark Connect (the way Databricks Connect works).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys

from pyspark.sql import SparkSession

from pipelines.config import SparkSettings, UserError
from pipelines.jars import delta_jars, delta_package

__all__ = ["delta_package", "get_spark", "SESSION_CONF", "LOCAL_CONF"]

# Settings every session gets: UTC everywhere, JSON parsed like RFC 8259 parsers do
# (duplicate keys: last wins), and only Delta table features delta-rs can read.
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.variant.allowDuplicateKeys": "true",
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    # No min/max column statistics in the Delta log: VACUUM never removes log entries, so
    # stats would keep an erased user's id (GDPR erasure must leave no trace).
    "spark.databricks.delta.properties.defaults.dataSkippingNumIndexedCols": "0",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
}

# Settings only a locally started JVM takes (a remote server has its own).
LOCAL_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.driver.memory": "4g",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # Delta rebuilds a table's state from its log with this many tasks (default 50); on
    # two cores that costs seconds per table read, and halves a small run's time (measured).
    "spark.databricks.delta.snapshotPartitions": "2",
    # VACUUM lists a table's folders with this many tasks (default 10,000): on a small
    # table that is 35-55 s of empty tasks per VACUUM here, 2.5 s with 8 (measured), and
    # erasure and `lakehouse maintain` vacuum every table they touch.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
    # Evaluate expressions outside whole-stage code (writers' projections, sort orders,
    # Delta's file filters, ...) interpreted instead of compiling a class for each: a run
    # here compiles hundreds of them and runs each on a few rows. A warm one-date run took
    # 19-26 % less time, the 50,000-record demo 22 % less, 1M records the same within
    # noise (bench/README.md, session 12). Spark marks this setting internal; a user's
    # LAKEHOUSE_SPARK_CONF can set FALLBACK (Spark's default) back.
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}

# JVM options of a locally started driver. A run here is short and compiles far more code
# than it runs hot: the JIT compilers took ≈ 70 of its ≈ 165 JVM CPU-seconds on two cores
# (bench/README.md). Three times the default compile thresholds leaves the code that is
# called only a few thousand times to the interpreter and C1; hot loops still reach C2.
# The serial collector: G1's concurrent threads and costlier write barriers buy short
# pauses on big heaps; here two runs at once (the usual case for tests and backfills on
# two cores) finished in 133 s instead of 143 s (medians of 2 pairs each, bench/README.md).
DRIVER_JAVA_OPTIONS = "-XX:CompileThresholdScaling=3 -XX:+UseSerialGC"
CHOOSES_A_COLLECTOR = re.compile(r"-XX:\+Use\w*GC\b")


def java_major_version() -> int | None:
    """The major version of the `java` on PATH (or JAVA_HOME), None when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_version(out.stderr + out.stdout)


def parse_java_version(text: str) -> int | None:
    """The major version in `java -version` output, whatever lines come before it
    (`Picked up JAVA_TOOL_OPTIONS: …` when that variable is set)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        return int(match.group(2))
    return major


def require_java() -> None:
    """Fail with one clear line unless Java 17+ is available for a local Spark."""
    version = java_major_version()
    if version is None:
        raise UserError(
            "Java 17+ is required for Spark but no `java` was found (install it or set JAVA_HOME)"
        )
    if version < 17:
        raise UserError(f"Java 17+ is required for Spark, found Java {version}")


def local_builder_conf(settings: SparkSettings) -> dict[str, str]:
    """Everything a JVM started here gets: our settings and the Delta jars as local files."""
    conf = {**LOCAL_CONF, **SESSION_CONF, "spark.jars": ",".join(delta_jars())}
    conf.update(settings.extra_conf)
    # A user's own driver options come after ours, so theirs win where both set a flag;
    # a collector of theirs replaces ours (the JVM refuses two).
    theirs = settings.extra_conf.get("spark.driver.extraJavaOptions", "")
    ours = DRIVER_JAVA_OPTIONS
    if CHOOSES_A_COLLECTOR.search(theirs):
        ours = CHOOSES_A_COLLECTOR.sub("", ours)
    conf["spark.driver.extraJavaOptions"] = " ".join((ours + " " + theirs).split())
    return conf


def on_databricks() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def get_spark(settings: SparkSettings | None = None, app_name: str = "lakehouse") -> SparkSession:
    """Return the session for this process, creating it on first use.

    On a Databricks runtime (serverless, standard or dedicated access) and through Spark
    Connect the platform owns the JVM: take its session and set only runtime SQL conf,
    never JVM-only APIs (SparkContext, log levels, jars).
    """
    settings = settings or SparkSettings.from_env()
    if on_databricks():
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        _apply_session_conf(spark, settings)
        return spark
    if settings.remote:
        spark = SparkSession.builder.remote(settings.remote).appName(app_name).getOrCreate()
        _apply_session_conf(spark, settings)
        return spark

    require_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (if any) must use this interpreter, not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master).appName(app_name)
    for key, value in local_builder_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _apply_session_conf(spark: SparkSession, settings: SparkSettings) -> None:
    for key, value in {**SESSION_CONF, **settings.extra_conf}.items():
        _try_set(spark, key, value)


def _try_set(spark: SparkSession, key: str, value: str) -> None:
    # Static confs cannot be changed on a running remote server; it must already have them.
    with contextlib.suppress(Exception):
        spark.conf.set(key, value)
