"""`lakehouse ui` on the contract example: GraphQL, a 3-partition backfill, a screenshot.

Starts `dagster dev` (webserver + daemon) through the CLI on 127.0.0.1, asks GraphQL for
the asset graph, the checks and the partitions, launches a backfill of three ingest dates
over every asset and waits for it (one run: a single-run backfill), saves a headless
Chromium screenshot of the asset graph to docs/img/asset-graph.png, and stops every
process it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
from ports import free_port

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]
SCREENSHOT = PROJECT / "docs" / "img" / "asset-graph.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BACKFILL_DATES = ["2026-10-20", "2026-10-21", "2026-10-22"]
STARTUP_SECONDS = 300
BACKFILL_SECONDS = 1800  # a shared 2-core machine; a quiet one needs a few minutes
GROUP_ID_PREFIXES = ("global@global:", "__repository__@lakehouse:")

ASSET_NODES = """
{ assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    isPartitioned
    partitionKeys
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
} }
"""
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      error { message }
      runs(limit: 10) { runId status tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as error:  # show the server's answer, not just "500"
        raise AssertionError(f"GraphQL HTTP {error.code}: {error.read()[:3000]!r}") from None
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def wait_for_code_location(url: str, process: subprocess.Popen, log: Path) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    pytest.fail(f"the webserver did not load the code location: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> list[psutil.Process]:
    """Stop `lakehouse ui` the way a user's `kill` would; return what is still alive."""
    try:
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    _, alive = psutil.wait_procs(started, timeout=30)
    for leftover in alive:  # never leave a process behind, even when the test fails
        leftover.kill()
    return alive


@pytest.fixture(scope="module")
def ui(examples_dir: Path, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ui")
    landing = base / "landing"
    shutil.copytree(examples_dir / "landing", landing)
    root = base / "lakehouse"
    port = free_port()
    log = base / "lakehouse-ui.log"
    env = {**os.environ, "LAKEHOUSE_DATA_DOCS": str(base / "data_docs")}
    env.pop("DAGSTER_HOME", None)
    env.pop("LAKEHOUSE_FIRST_INGEST_DATE", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "ui", "--landing", str(landing)]
            + ["--lakehouse", str(root), "--port", str(port)],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    state = {"url": url, "root": root, "log": log, "process": process}
    try:
        wait_for_code_location(url, process, log)
        yield state
    finally:
        state["leftovers"] = stop(process)
        assert not state["leftovers"], f"processes left running: {state['leftovers']}"


def test_graphql_answers_with_assets_checks_and_partitions(ui: dict) -> None:
    nodes = {
        "/".join(n["assetKey"]["path"]): n for n in graphql(ui["url"], ASSET_NODES)["assetNodes"]
    }
    assert {"bronze/events", "quarantine/events", "features/user_features", "adx/gold"} <= set(
        nodes
    )
    assert sum(k.startswith("silver/") for k in nodes) == 6
    assert sum(k.startswith("gold/") for k in nodes) == 5
    assert ["silver", "api_requests"] in [
        d["path"] for d in nodes["gold/api_usage_daily"]["dependencyKeys"]
    ]
    for name in ("bronze/events", "silver/logins", "gold/revenue_daily"):
        node = nodes[name]
        assert node["isPartitioned"]
        # `lakehouse ui` starts the partitions at the first landing date
        assert node["partitionKeys"][:4] == ["2026-10-20", "2026-10-21", "2026-10-22", "2026-10-23"]
        checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
        assert checks["gx_suite"] is True
    gate = {
        c["name"]: c["blocking"] for c in nodes["quarantine/events"]["assetChecksOrError"]["checks"]
    }
    assert gate == {"gx_suite": True, "batch_gate": False, "conservation": False}


def test_a_three_partition_backfill_completes_in_one_run(ui: dict) -> None:
    nodes = graphql(ui["url"], ASSET_NODES)["assetNodes"]
    params = {
        "partitionNames": BACKFILL_DATES,
        "assetSelection": [{"path": n["assetKey"]["path"]} for n in nodes],
        "fromFailure": False,
        "title": "test: three ingest dates",
    }
    launched = graphql(ui["url"], LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_SECONDS
    backfill = {}
    while time.monotonic() < deadline:
        backfill = graphql(ui["url"], BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
            break
        time.sleep(5)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    runs = backfill["runs"]
    assert len(runs) == 1, runs  # single-run backfill policy: one Spark application
    assert runs[0]["status"] == "SUCCESS", runs
    tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
    assert tags["dagster/asset_partition_range_start"] == BACKFILL_DATES[0]
    assert tags["dagster/asset_partition_range_end"] == BACKFILL_DATES[-1]
    assert (ui["root"] / "gold" / "daily_active_users" / "_delta_log").is_dir()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
def test_screenshot_of_the_asset_graph(ui: dict, tmp_path: Path) -> None:
    groups = sorted({n["groupName"] for n in graphql(ui["url"], ASSET_NODES)["assetNodes"]})
    # The lineage view collapses groups; `expanded` opens them (ids as the UI builds them).
    expanded = ",".join(f"{prefix}{g}" for g in groups for prefix in GROUP_ID_PREFIXES)
    page = f"{ui['url']}/asset-groups?{urllib.parse.urlencode({'expanded': expanded})}"
    shot = tmp_path / "asset-graph.png"
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            "--window-size=1900,3400",  # the whole (tall) graph at the UI's default zoom
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=20000",  # let the JS app fetch and lay out the graph
            f"--screenshot={shot}",
            page,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT)
