"""The one Spark session factory: local by default, a cluster master, or Spark Connect.

Nothing else in the project builds a session, and no code path uses RDDs or JVM
internals, so the same pipeline runs locally, on a standalone cluster and through
Spark Connect (the way Databricks Connect works).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

from pyspark.sql import SparkSession

from pipelines.config import SparkSettings, UserError

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
}


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
    text = out.stderr + out.stdout
    for token in text.split():
        token = token.strip('"')
        if token[:1].isdigit():
            major = token.split(".")[0]
            if major == "1":  # "1.8.0_x" style
                major = token.split(".")[1]
            return int(major) if major.isdigit() else None
    return None


def require_java() -> None:
    """Fail with one clear line unless Java 17+ is available for a local Spark."""
    version = java_major_version()
    if version is None:
        raise UserError(
            "Java 17+ is required for Spark but no `java` was found (install it or set JAVA_HOME)"
        )
    if version < 17:
        raise UserError(f"Java 17+ is required for Spark, found Java {version}")


def delta_package() -> str:
    """The Maven coordinate of the Delta jars matching the installed delta-spark and pyspark."""
    from importlib.metadata import version

    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def local_builder_conf(settings: SparkSettings) -> dict[str, str]:
    conf = {**LOCAL_CONF, **SESSION_CONF, "spark.jars.packages": delta_package()}
    conf.update(settings.extra_conf)
    return conf


def get_spark(settings: SparkSettings | None = None, app_name: str = "lakehouse") -> SparkSession:
    """Return the session for this process, creating it on first use."""
    settings = settings or SparkSettings.from_env()
    if settings.remote:
        builder = SparkSession.builder.remote(settings.remote).appName(app_name)
        spark = builder.getOrCreate()
        for key, value in {**SESSION_CONF, **settings.extra_conf}.items():
            _try_set(spark, key, value)
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


def _try_set(spark: SparkSession, key: str, value: str) -> None:
    # Static confs cannot be changed on a running remote server; it must already have them.
    with contextlib.suppress(Exception):
        spark.conf.set(key, value)
