"""The landing sensor: start runs for new ingest dates and for late files in processed ones.

A date is due when the fingerprint of its landing files (names and sizes) differs from
the one `_internal/ingest_log` recorded when silver last processed it: a new date has
none, a late file changes it. The cursor remembers what was already requested, so a date
is not requested again while its run is queued or running. Gated dates are not retried
(their fingerprint is recorded): publishing one takes a deliberate higher threshold.

The sensor runs in the daemon's code server, so it reads the log with delta-rs, not Spark.
"""

import hashlib
import json
from datetime import date
from typing import TYPE_CHECKING

from dagster import (
    DefaultSensorStatus,
    PartitionsDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

from orchestration.delta_rs import read_table
from orchestration.partitions import contiguous_ranges, range_request
from orchestration.resources import LakehouseResource
from pipelines.config import settings
from pipelines.delta_io import table_exists, table_path
from pipelines.landing import fingerprint, is_remote, list_ingest_dates, list_landing_files
from schemas.tables import INGEST_LOG_TABLE


def landing_fingerprints(landing: str) -> dict[date, str]:
    """{ingest date: fingerprint} of every landing folder that holds record files."""
    prints = {d: fingerprint(list_landing_files(landing, d)) for d in list_ingest_dates(landing)}
    return {d: p for d, p in prints.items() if p}


def processed_fingerprints(root: str) -> dict[date, str]:
    """{ingest date: fingerprint of the files silver processed}, from the ingest log."""
    path = table_path(root, INGEST_LOG_TABLE)
    if not table_exists(path):
        return {}
    options = _delta_rs_options() if is_remote(root) else None
    columns = ["ingest_date", "files_fingerprint"]
    rows = read_table(path, columns, storage_options=options).to_pylist()
    return {r["ingest_date"]: r["files_fingerprint"] or "" for r in rows}


def _delta_rs_options() -> dict[str, str]:
    # delta-rs reads AZURE_* variables itself; a connection string it does not, so split it.
    options: dict[str, str] = {}
    text = settings().azure.connection_string
    parts = dict(item.split("=", 1) for item in text.split(";") if "=" in item)
    if "AccountName" in parts:
        options["account_name"] = parts["AccountName"]
    if "AccountKey" in parts:
        options["account_key"] = parts["AccountKey"]
    if "SharedAccessSignature" in parts:
        options["sas_token"] = parts["SharedAccessSignature"]
    if "BlobEndpoint" in parts:
        options["azure_storage_endpoint"] = parts["BlobEndpoint"]
        options["allow_http"] = str(parts["BlobEndpoint"].startswith("http://")).lower()
    return options


def due_dates(
    landing: dict[date, str], processed: dict[date, str], requested: dict[str, str]
) -> list[date]:
    """Dates whose files differ from both what was processed and what was requested."""
    return sorted(
        d
        for d, prints in landing.items()
        if prints != processed.get(d) and prints != requested.get(d.isoformat())
    )


def build_landing_sensor(
    job: "UnresolvedAssetJobDefinition", partitions: PartitionsDefinition
) -> SensorDefinition:
    @sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Runs the job for new landing dates and for dates a late file arrived in; "
        "one run per range of consecutive dates.",
    )
    def landing_sensor(
        context: SensorEvaluationContext, lakehouse: LakehouseResource
    ) -> SensorResult | SkipReason:
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        landing = landing_fingerprints(lakehouse.landing)
        processed = processed_fingerprints(lakehouse.root)
        due = [
            d
            for d in due_dates(landing, processed, requested)
            if partitions.has_partition_key(d.isoformat())
        ]
        # Forget requests that are done (or superseded), so the cursor stays small.
        cursor = {
            k: v
            for k, v in requested.items()
            if processed.get(date.fromisoformat(k)) != v and landing.get(date.fromisoformat(k)) == v
        }
        cursor.update({d.isoformat(): landing[d] for d in due})
        if not due:
            return SensorResult(skip_reason="no new or changed landing dates", cursor=_dump(cursor))
        requests = []
        for first, last in contiguous_ranges(due):
            digest = hashlib.sha1(
                json.dumps({d.isoformat(): landing[d] for d in due if first <= d <= last}).encode()
            ).hexdigest()[:12]
            requests.append(range_request(first, last, run_key=f"landing:{first}..{last}:{digest}"))
        context.log.info(f"requesting {len(requests)} run(s) for {len(due)} date(s)")
        return SensorResult(run_requests=requests, cursor=_dump(cursor))

    return landing_sensor


def _dump(cursor: dict[str, str]) -> str:
    return json.dumps(dict(sorted(cursor.items())))
