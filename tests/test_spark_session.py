"""The local session: the JVM options it is started with (pipelines/spark.py)."""

from __future__ import annotations

from pipelines.config import SparkSettings
from pipelines.spark import DRIVER_JAVA_OPTIONS, local_builder_conf


def test_the_local_driver_jvm_runs_with_our_options(spark) -> None:
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert set(DRIVER_JAVA_OPTIONS.split()) <= set(runtime.getInputArguments())


def test_a_users_driver_options_follow_ours_so_theirs_win() -> None:
    key, theirs = "spark.driver.extraJavaOptions", "-XX:CompileThresholdScaling=1 -Dx=1"
    conf = local_builder_conf(SparkSettings(extra_conf={key: theirs}))
    assert conf[key] == f"{DRIVER_JAVA_OPTIONS} {theirs}"


def test_a_users_collector_replaces_ours() -> None:
    key, theirs = "spark.driver.extraJavaOptions", "-XX:+UseG1GC -Dx=1"
    options = local_builder_conf(SparkSettings(extra_conf={key: theirs}))[key].split()
    assert "-XX:+UseG1GC" in options and "-XX:+UseSerialGC" not in options
    assert "-XX:CompileThresholdScaling=3" in options


def test_the_local_session_evaluates_expressions_interpreted(spark) -> None:
    assert spark.conf.get("spark.sql.codegen.factoryMode") == "NO_CODEGEN"
    rows = spark.range(5).selectExpr("id * 2 AS doubled").orderBy("doubled").collect()
    assert [r.doubled for r in rows] == [0, 2, 4, 6, 8]


def test_a_user_can_switch_code_generation_back() -> None:
    key = "spark.sql.codegen.factoryMode"
    assert local_builder_conf(SparkSettings(extra_conf={key: "FALLBACK"}))[key] == "FALLBACK"
