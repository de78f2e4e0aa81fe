"""The README's set-up on a bare machine: a fresh clone, an empty home folder, nothing cached.

This is the test that would have caught the `~/.m2` poisoning (issue 10): the clone's
set-up must fetch uv, the locked environment and the Delta jars by itself, with `HOME`
*and* Java's `user.home` pointed at an empty folder (Java reads the home folder from the
password database, not `$HOME`). The home folder is even given what `mvn dependency:get`
leaves behind, a `.pom` without its jar, which broke Spark's default resolver; and
`JAVA_TOOL_OPTIONS` is set, which makes `java -version` print an extra first line.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

POISON_POM = """<project><modelVersion>4.0.0</modelVersion><groupId>org.slf4j</groupId>
<artifactId>slf4j-api</artifactId><version>2.0.13</version></project>"""

SPARK_SMOKE = textwrap.dedent(
    """
    import sys
    from orchestration.delta_rs import read_table
    from pipelines.spark import get_spark
    spark = get_spark(app_name="bare-machine")
    path = sys.argv[1]
    spark.range(3).write.format("delta").save(path)
    print("spark", spark.read.format("delta").load(path).count())
    print("delta-rs", read_table(path).num_rows)
    """
)


def bare_env(home: Path) -> dict[str, str]:
    """This machine's environment (PATH, TLS certificates, proxies) with a new user's home:
    nothing of the project's or of an earlier set-up is passed on."""
    dropped = ("HOME", "VIRTUAL_ENV", "PYTHONPATH", "UV_CACHE_DIR", "JAVA_TOOL_OPTIONS")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("LAKEHOUSE_", "SPARK_", "PYSPARK_", "XDG_"))
    }
    # pyenv's shims find their versions through PYENV_ROOT, which defaults to ~/.pyenv.
    env.setdefault("PYENV_ROOT", str(Path.home() / ".pyenv"))
    env.update(HOME=str(home), JAVA_TOOL_OPTIONS=f"-Duser.home={home}")
    return env


@pytest.mark.slow
def test_fresh_clone_with_empty_home_sets_up_and_runs_delta(tmp_path):
    if subprocess.run(["git", "-C", str(PROJECT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    home = tmp_path / "home"
    poisoned = home / ".m2" / "repository" / "org" / "slf4j" / "slf4j-api" / "2.0.13"
    poisoned.mkdir(parents=True)
    (poisoned / "slf4j-api-2.0.13.pom").write_text(POISON_POM)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT), str(clone)], check=True)
    env = bare_env(home)

    setup = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert "Delta" not in setup.stderr, setup.stderr[-3000:]
    jars = list((clone / ".jars").glob("*/ivy/jars/*.jar"))
    assert any(j.name.startswith("io.delta_delta-spark") for j in jars), jars

    table = tmp_path / "table"
    smoke = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", SPARK_SMOKE, str(table)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert smoke.returncode == 0, smoke.stderr[-4000:]
    assert "spark 3" in smoke.stdout and "delta-rs 3" in smoke.stdout, smoke.stdout
    # Nothing was fetched into the home folder's Maven or Ivy caches: all of it is the clone's.
    assert not list(home.glob(".ivy2*")), list(home.glob(".ivy2*"))
    assert sorted(p.name for p in (home / ".m2" / "repository").iterdir()) == ["org"]
