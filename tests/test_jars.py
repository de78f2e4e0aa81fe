"""The Delta artifact a local JVM gets, for each delta-spark line, and how it is fetched
(from a Maven repository in a folder: no network)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from pipelines import jars
from pipelines.config import UserError


@pytest.mark.parametrize(
    ("spark", "delta", "coordinate"),
    [
        # 4.0.x: one artifact per Scala version (DBR 17.3 LTS's line, the runtime emulation).
        ("4.0.5", "4.0.1", "io.delta:delta-spark_2.13:4.0.1"),
        # From 4.1 on: one per Spark minor as well.
        ("4.1.1", "4.1.0", "io.delta:delta-spark_4.1_2.13:4.1.0"),
        ("4.2.0", "4.4.0", "io.delta:delta-spark_4.2_2.13:4.4.0"),
    ],
)
def test_delta_artifact_per_line(spark: str, delta: str, coordinate: str):
    assert jars.delta_package(spark, delta) == coordinate


def test_without_delta_spark_a_local_spark_says_which_extra(monkeypatch: pytest.MonkeyPatch):
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(jars, "version", missing)
    with pytest.raises(UserError, match="`spark` \\(or `local`\\) extra"):
        jars.delta_package("4.0.5")


# --- resolution, against a Maven repository in a folder (no network) ---------------------

TINY = "com.example:tiny:1.0"
DEPENDENCIES = 40  # enough downloads that two resolutions at once overlap (as Delta's 33 do)


def publish(repository: Path, name: str, dependencies: Sequence[str] = ()) -> None:
    """One jar and its pom, laid out as Maven Central lays them out."""
    folder = repository / "com" / "example" / name / "1.0"
    folder.mkdir(parents=True)
    needs = "".join(
        f"<dependency><groupId>com.example</groupId><artifactId>{d}</artifactId>"
        "<version>1.0</version></dependency>"
        for d in dependencies
    )
    (folder / f"{name}-1.0.pom").write_text(
        "<project><modelVersion>4.0.0</modelVersion><groupId>com.example</groupId>"
        f"<artifactId>{name}</artifactId><version>1.0</version><packaging>jar</packaging>"
        f"<dependencies>{needs}</dependencies></project>"
    )
    with zipfile.ZipFile(folder / f"{name}-1.0.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")


@pytest.fixture
def tiny_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LAKEHOUSE_MAVEN_REPO: a folder holding `TINY` and its dependencies;
    LAKEHOUSE_JARS_DIR: an empty folder. Returns the folder `TINY` resolves into."""
    repository = tmp_path / "repo"
    dependencies = [f"dependency{i}" for i in range(DEPENDENCIES)]
    for name in dependencies:
        publish(repository, name)
    publish(repository, "tiny", dependencies)
    monkeypatch.setenv("LAKEHOUSE_MAVEN_REPO", repository.as_uri())
    monkeypatch.setenv("LAKEHOUSE_JARS_DIR", str(tmp_path / "jars"))
    return tmp_path / "jars" / "com.example_tiny_1.0"


@pytest.mark.slow
def test_two_set_ups_resolving_at_once_both_succeed(tiny_repository: Path):
    # Two set-ups at once (two clones' CI jobs on one home, a second terminal) used to
    # share Ivy's cache and settings file, and both failed ("download failed: …!….jar").
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: jars.delta_jars(TINY), range(2))

    assert first == second
    assert len(first) == DEPENDENCIES + 1
    assert all(Path(j).is_file() and Path(j).is_relative_to(tiny_repository) for j in first)
    assert not list(tiny_repository.glob(f"{jars.STAGING_PREFIX}*"))  # nothing left behind
    assert jars.delta_jars(TINY) == first  # from the manifest from now on


def test_a_repository_without_the_artifact_is_one_clear_error(tiny_repository: Path):
    with pytest.raises(UserError, match="could not fetch the Delta jars com.example:absent:1.0"):
        jars.delta_jars("com.example:absent:1.0")
