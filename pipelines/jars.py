"""The Delta Lake jars of a locally started JVM, resolved once into a folder of the project's.

Why not Spark's own `spark.jars.packages` with its default resolvers: that chain looks in
`~/.m2` first, and a module whose `.pom` is there without its jar (what `mvn
dependency:get` leaves for versions Maven's mediation did not pick) fails the whole start
with `download failed: …!….jar` instead of falling through to Maven Central (measured on a
bare machine). Here Ivy gets settings of our own: one repository (Maven Central, or the
mirror in LAKEHOUSE_MAVEN_REPO) and a cache under `.jars/` in the checkout, so nothing in
the home folder can change the outcome and a fresh clone always re-proves the download.

Resolution runs once per Delta coordinate, in a short `spark-submit` of its own, and its
jar list is kept in a manifest; every later JVM (the session factory, the Spark Connect
server and the standalone cluster of the tests, the notebooks) gets those files through
`spark.jars` and resolves nothing at start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipelines.config import UserError, settings

MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "jars.txt"
STAGING_PREFIX = "ivy-resolving-"
# A resolution times out after 900 s, so a staging folder older than this is a leftover.
STAGING_MAX_AGE_SECONDS = 3600

IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="repository"/>
  <resolvers>
    <ibiblio name="repository" m2compatible="true" root="{repository}"/>
  </resolvers>
</ivysettings>
"""


def delta_package(spark_version: str | None = None, delta_version: str | None = None) -> str:
    """The Maven coordinate of the Delta jars for the installed pyspark and delta-spark.

    delta-spark 4.0.x ships one artifact per Scala version (`delta-spark_2.13`); from 4.1 on
    there is one per Spark minor too (`delta-spark_4.1_2.13`, `delta-spark_4.2_2.13`).
    """
    if spark_version is None:
        import pyspark

        spark_version = pyspark.__version__
    if delta_version is None:
        try:
            delta_version = version("delta-spark")
        except PackageNotFoundError:  # the wheel without extras: fine on Databricks only
            raise UserError(
                "a local Spark needs delta-spark: install the wheel with its `spark` (or "
                "`local`) extra, or run `bash scripts/setup.sh`"
            ) from None
    major, minor = (int(p) for p in delta_version.split(".")[:2])
    if (major, minor) < (4, 1):
        return f"io.delta:delta-spark_2.13:{delta_version}"
    spark_minor = ".".join(spark_version.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{delta_version}"


def repository() -> str:
    url = settings().jars.maven_repo or MAVEN_CENTRAL
    return url if url.endswith("/") else url + "/"


def jars_home() -> Path:
    """LAKEHOUSE_JARS_DIR, else `.jars/` in the checkout, else a per-user cache folder."""
    if folder := settings().jars.jars_dir:
        return Path(folder).resolve()
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / ".jars"
    return Path.home() / ".cache" / "techventure-lakehouse" / "jars"


def delta_jars(coordinate: str | None = None) -> list[str]:
    """The jar files of `coordinate` (default: the installed Delta), resolving them once."""
    coordinate = coordinate or delta_package()
    folder = jars_home() / re.sub(r"[^A-Za-z0-9_.-]+", "_", coordinate)
    manifest = folder / MANIFEST
    if manifest.exists():
        jars = manifest.read_text(encoding="utf-8").split()
        if jars and all(os.path.exists(j) for j in jars):
            return jars
    return _resolve(coordinate, folder)


def _resolve(coordinate: str, folder: Path) -> list[str]:
    """Fetch `coordinate` into a fresh Ivy folder, then move it to `folder/ivy` in one step.

    Two resolutions at once into one Ivy cache, with one settings file, both failed here
    (measured: two set-ups at the same time; each read files the other was writing). So
    each resolution works in a folder of its own, and only a complete one replaces what
    was there: a resolution killed half-way leaves nothing a later one reads.
    """
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    replaced = staging.with_name(f"{staging.name}-replaced")
    try:
        output, ok = _fetch(coordinate, staging)
        log = folder / "resolve.log"
        log.write_text(output, encoding="utf-8")
        if not ok:
            raise UserError(
                f"could not fetch the Delta jars {coordinate} from {repository()}: "
                f"{_failures(output)} (full log: {log}; "
                "set LAKEHOUSE_MAVEN_REPO to use a mirror)"
            )
        ivy = folder / "ivy"
        # Two renames, not a removal and a rename: `ivy/` is missing only between them.
        with contextlib.suppress(FileNotFoundError):
            ivy.rename(replaced)  # an earlier, older or broken resolution
        with contextlib.suppress(OSError):  # unless a concurrent set-up moved its in first
            staging.rename(ivy)
        jars = sorted(str(p) for p in (ivy / "jars").glob("*.jar"))
        (folder / MANIFEST).write_text("\n".join(jars) + "\n", encoding="utf-8")
        return jars
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)


def _fetch(coordinate: str, ivy: Path) -> tuple[str, bool]:
    """Resolve `coordinate` with Spark's own resolver into `ivy`; (its output, success)."""
    import pyspark

    spark_submit = Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"
    with tempfile.TemporaryDirectory() as tmp:
        # Private to this resolution: a second set-up rewriting a shared file while this
        # JVM reads it left Ivy with no repository ("not found", measured).
        settings = Path(tmp) / "ivysettings.xml"
        settings.write_text(IVY_SETTINGS.format(repository=repository()), encoding="utf-8")
        nothing = Path(tmp) / "resolve_only.py"  # spark-submit resolves, then runs this
        nothing.write_text("", encoding="utf-8")
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
        command = [
            str(spark_submit),
            "--master", "local[1]",
            "--conf", f"spark.jars.ivy={ivy}",
            "--conf", f"spark.jars.ivySettings={settings}",
            "--packages", coordinate,
            str(nothing),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise UserError(f"could not run spark-submit to fetch {coordinate}: {error}") from None
    ok = done.returncode == 0 and any((ivy / "jars").glob("*.jar"))
    return done.stdout + done.stderr, ok


def _remove_stale_staging(folder: Path) -> None:
    """Remove what killed resolutions left (older than any running one can be)."""
    cutoff = time.time() - STAGING_MAX_AGE_SECONDS
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)


def _failures(output: str) -> str:
    """What Ivy could not get, in one line: the failed downloads and unresolved modules."""
    found = re.findall(r"download failed: (\S+?)[,\]\s]", output)
    found += re.findall(r"::\s+(\S+#\S+);?\s*(?:\S+)?:\s+not found", output)
    found += re.findall(r"unresolved dependency: (\S+)", output)
    unique = list(dict.fromkeys(f.rstrip(":,") for f in found))
    if unique:
        return "not fetched: " + ", ".join(unique[:8]) + (" …" if len(unique) > 8 else "")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "Exception" in line or "rror" in line]
    return (errors or lines or ["spark-submit failed without output"])[-1][:300]


def main() -> None:
    """`python -m pipelines.jars`: resolve the Delta jars now (scripts/setup.sh does)."""
    try:
        jars = delta_jars()
    except UserError as error:
        print(f"[setup] error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"[setup] {delta_package()}: {len(jars)} jars in {Path(jars[0]).parent}")


if __name__ == "__main__":
    main()
