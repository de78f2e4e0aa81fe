"""Publish gold tables to Azure Data Explorer (Kusto), one whole event_date at a time.

Each event_date being (re)published is swapped in atomically, so the analytics service sees
the date's old rows or its new rows, never both (doubles) and never neither (a gap):

1. `.create-merge table T (...)`, and the same schema for the scratch table `T_staging`.
2. `.drop extents <| .show table S extents where tags has 'drop-by:D'` clears what a failed
   earlier run may have left in staging for that date (it would otherwise be moved in too).
3. `.ingest inline into table S with (format='csv', ingestionMapping=..., tags='["drop-by:D"]')`
   loads the date's rows into staging, tagged with the date.
4. `.replace extents in table T ... <| {T's extents tagged D}, {S's extents tagged D}` drops
   the old extents and moves the new ones in one transaction.

A date that no longer has any gold rows is dropped: `.drop extents <| .show table T extents
where tags has 'drop-by:D'`.

Why inline ingestion and not the streaming client: the streaming REST endpoint
(`/v1/rest/ingest/{db}/{table}?streamFormat=..&mappingName=..`) has no way to carry extent
tags, and azure-kusto-ingest's `KustoStreamingIngestClient` sends only the format and the
mapping name (its `drop_by_tags` are silently ignored); streamed rows also land in the row
store first, so they cannot be dropped or moved by tag. Queued ingestion does carry tags, but
needs the cluster's blob and queue resources and completes asynchronously. Gold tables are
small daily aggregates, well inside what `.ingest inline` is meant for; see docs/adx.md.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd
from pyspark.sql.types import (
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from pipelines.config import AdxEnv, UserError, settings

if TYPE_CHECKING:
    from azure.kusto.data import KustoClient, KustoConnectionStringBuilder
    from pyspark.sql import DataFrame as SparkDataFrame

log = logging.getLogger(__name__)

EVENT_DATE = "event_date"
STAGING_SUFFIX = "_staging"
STAGING_FOLDER = "lakehouse_staging"

# Rows are sent in commands of at most this much CSV text; each becomes one staging extent.
MAX_INLINE_BYTES = 4 * 1024 * 1024

# `.replace extents` takes a creation-time window (required in the current docs). Every
# extent of these tables was created after this date; "to" is two days ahead, so a cluster
# clock ahead of ours cannot leave the new extents outside the window.
EXTENTS_CREATED_FROM = date(2020, 1, 1)
EXTENTS_CREATED_MARGIN = timedelta(days=2)

# Kusto entity names may hold letters, digits, `_`, `.`, `-` and spaces; anything else is
# refused rather than escaped, so a name can always be written as ['name'].
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.- ")

_KUSTO_TYPES: list[tuple[type[DataType], str]] = [
    (StringType, "string"),
    (DateType, "datetime"),  # Kusto has no date type: midnight UTC
    (TimestampType, "datetime"),
    (TimestampNTZType, "datetime"),
    (LongType, "long"),
    (IntegerType, "int"),
    (ShortType, "int"),
    (ByteType, "int"),
    (DoubleType, "real"),
    (FloatType, "real"),
    (BooleanType, "bool"),
]


@dataclass(frozen=True)
class AdxSettings:
    """Where gold is published. https clusters use Entra ID; plain http only on loopback (tests)."""

    cluster_url: str
    database: str
    # Only queued ingestion would use the data-management ("ingest-") endpoint; the inline
    # path here talks to the engine alone. Kept so a queued path can be added without new config.
    ingest_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cluster_url", _check_url("cluster URL", self.cluster_url))
        if self.ingest_url:
            object.__setattr__(self, "ingest_url", _check_url("ingest URL", self.ingest_url))
        if not self.database.strip():
            raise UserError("ADX database name is empty (LAKEHOUSE_ADX_DATABASE)")

    @classmethod
    def from_env(cls, env: AdxEnv | None = None) -> AdxSettings | None:
        """From LAKEHOUSE_ADX_* (`env`, default `settings().adx`); None (publishing off) when
        neither cluster nor database is set."""
        env = env or settings().adx
        cluster, database = env.cluster_url, env.database
        if not cluster and not database:
            return None
        if not cluster or not database:
            raise UserError(
                "set both LAKEHOUSE_ADX_CLUSTER_URL and LAKEHOUSE_ADX_DATABASE to publish to ADX "
                "(or neither to turn publishing off)"
            )
        return cls(cluster_url=cluster, database=database, ingest_url=env.ingest_url or None)

    @property
    def is_local_test_endpoint(self) -> bool:
        return urlparse(self.cluster_url).scheme == "http"


@dataclass(frozen=True)
class PublishResult:
    """What one publish_gold call did."""

    table: str
    database: str
    rows_by_date: dict[date, int] = field(default_factory=dict)
    replaced_extents: int = 0  # old extents of the target table dropped by this call

    @property
    def rows(self) -> int:
        return sum(self.rows_by_date.values())


def _check_url(what: str, url: str) -> str:
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return url
    if parsed.scheme == "http" and parsed.hostname and _is_loopback(parsed.hostname):
        return url  # a local test endpoint: no TLS, no token
    raise UserError(
        f"ADX {what} must be https://<cluster>.kusto.windows.net "
        f"(plain http only for a loopback test endpoint), got {url!r}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_string(settings: AdxSettings) -> KustoConnectionStringBuilder:
    """Entra ID token (DefaultAzureCredential: managed identity, az login, env) for https;
    no authentication only for a loopback http test endpoint."""
    from azure.kusto.data import KustoConnectionStringBuilder

    if settings.is_local_test_endpoint:
        return KustoConnectionStringBuilder.with_no_authentication(settings.cluster_url)
    from azure.identity import DefaultAzureCredential

    return KustoConnectionStringBuilder.with_azure_token_credential(
        settings.cluster_url, DefaultAzureCredential()
    )


# --- KQL text ---------------------------------------------------------------------------


def quote_name(name: str) -> str:
    """An entity name as a bracketed KQL identifier, after checking it needs no escaping."""
    if not name or len(name) > 1024 or not set(name) <= _NAME_CHARS or name != name.strip():
        raise ValueError(f"not a valid Kusto table or column name: {name!r}")
    return f"['{name}']"


def quote_string(value: str) -> str:
    """A KQL single-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + escaped.replace("\n", "\\n").replace("\r", "\\r") + "'"


def kusto_type(dtype: DataType) -> str:
    for spark_type, name in _KUSTO_TYPES:
        if isinstance(dtype, spark_type):
            return name
    raise ValueError(f"no Kusto type for Spark type {dtype.simpleString()}")


def kusto_columns(schema: StructType) -> list[tuple[str, str]]:
    """(name, Kusto type) per column of a Spark schema, in order."""
    columns = [(f.name, kusto_type(f.dataType)) for f in schema.fields]
    for name, _ in columns:
        quote_name(name)
    return columns


def drop_by_tag(event_date: date) -> str:
    return f"drop-by:{event_date.isoformat()}"


def staging_table(table: str) -> str:
    return table + STAGING_SUFFIX


def create_merge_command(
    table: str, columns: list[tuple[str, str]], folder: str | None = None
) -> str:
    cols = ", ".join(f"{quote_name(name)}:{ktype}" for name, ktype in columns)
    extra = f" with (folder={quote_string(folder)})" if folder else ""
    return f".create-merge table {quote_name(table)} ({cols}){extra}"


def show_extents_query(table: str, tag: str) -> str:
    return f".show table {quote_name(table)} extents where tags has {quote_string(tag)}"


def drop_extents_command(table: str, tag: str) -> str:
    return f".drop extents <| {show_extents_query(table, tag)}"


def ingest_inline_command(
    table: str, columns: list[tuple[str, str]], tags: list[str], csv_text: str
) -> str:
    # An explicit mapping by column name, so the CSV does not depend on the column order the
    # table happens to have (create-merge appends new columns at the end).
    mapping = [
        {"column": name, "Properties": {"Ordinal": str(i)}} for i, (name, _) in enumerate(columns)
    ]
    props = ", ".join(
        [
            "format='csv'",
            f"ingestionMapping={quote_string(json.dumps(mapping, separators=(',', ':')))}",
            f"tags={quote_string(json.dumps(tags))}",
        ]
    )
    # The data part is raw CSV up to the end of the command (not KQL), after `<|` and a newline.
    return f".ingest inline into table {quote_name(table)} with ({props}) <|\n{csv_text}"


def replace_extents_command(table: str, staging: str, tag: str, today: date) -> str:
    window = (
        f"extentCreatedOnFrom=datetime({EXTENTS_CREATED_FROM.isoformat()}), "
        f"extentCreatedOnTo=datetime({(today + EXTENTS_CREATED_MARGIN).isoformat()})"
    )
    return (
        f".replace extents in table {quote_name(table)} with ({window}) <|\n"
        f"{{{show_extents_query(table, tag)}}},\n"
        f"{{{show_extents_query(staging, tag)}}}"
    )


# --- rows as CSV ------------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def csv_value(value: Any, ktype: str, column: str) -> str:
    """One cell as Kusto's CSV parser reads it; an empty cell is null (or "" for strings)."""
    if _is_null(value):
        return ""
    if ktype == "string":
        return str(value)
    if ktype == "bool":
        return "true" if bool(value) else "false"
    if ktype in ("long", "int"):
        number = float(value) if isinstance(value, float) else None
        if number is not None and not number.is_integer():
            raise ValueError(f"column {column}: {value!r} is not an integer")
        return str(int(value))
    if ktype == "real":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"column {column}: {number} cannot be published to ADX")
        return repr(number)
    if ktype == "datetime":
        return _kusto_datetime(value)
    raise ValueError(f"column {column}: unsupported Kusto type {ktype}")


def _kusto_datetime(value: Any) -> str:
    if not isinstance(value, date):  # numpy datetime64, strings
        value = pd.Timestamp(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # naive values are UTC (session tz)
    return f"{value.isoformat()}T00:00:00Z"


def csv_chunks(
    rows: pd.DataFrame, columns: list[tuple[str, str]], max_bytes: int | None = None
) -> Iterator[str]:
    """The rows as CSV text (no header), cut into pieces of at most max_bytes where possible."""
    limit = max_bytes or MAX_INLINE_BYTES
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lines: list[str] = []
    size = 0
    for record in rows[[name for name, _ in columns]].itertuples(index=False, name=None):
        writer.writerow(
            [csv_value(v, ktype, name) for v, (name, ktype) in zip(record, columns, strict=True)]
        )
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if lines and size + len(line.encode()) > limit:
            yield "".join(lines).rstrip("\n")
            lines, size = [], 0
        lines.append(line)
        size += len(line.encode())
    if lines:
        yield "".join(lines).rstrip("\n")


def _dates_of(rows: pd.DataFrame) -> pd.Series:
    if EVENT_DATE not in rows.columns:
        raise ValueError(f"gold rows have no {EVENT_DATE} column")
    return rows[EVENT_DATE].map(lambda v: v if type(v) is date else pd.Timestamp(v).date())


# --- publishing -------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _run(client: KustoClient, settings: AdxSettings, csl: str, what: str) -> list[dict[str, Any]]:
    """Run one management command; Kusto and network failures become one-line UserErrors."""
    import requests
    from azure.kusto.data.exceptions import (
        KustoAuthenticationError,
        KustoError,
        KustoNetworkError,
        KustoServiceError,
    )

    try:
        response = client.execute_mgmt(settings.database, csl)
    except (KustoNetworkError, requests.RequestException):
        raise UserError(
            f"ADX cluster {settings.cluster_url} is unreachable while trying to {what} "
            "(check LAKEHOUSE_ADX_CLUSTER_URL and the network)"
        ) from None
    except KustoAuthenticationError as err:
        raise UserError(
            f"could not get an Entra ID token for {settings.cluster_url}: {_one_line(err)} "
            "(use a managed identity, `az login`, or AZURE_* environment variables)"
        ) from None
    except KustoServiceError as err:
        raise UserError(
            f"ADX {settings.cluster_url} database {settings.database} refused to {what}: "
            f"{_one_line(err)}"
        ) from None
    except KustoError as err:
        raise UserError(f"ADX request failed while trying to {what}: {_one_line(err)}") from None
    return [row.to_dict() for row in response.primary_results[0]]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:500] + ("…" if len(text) > 500 else "")


def publish_gold(
    settings: AdxSettings,
    table: str,
    rows: pd.DataFrame,
    event_dates: list[date],
    schema: StructType,
) -> PublishResult:
    """Make ADX table `table` hold exactly `rows` for each of `event_dates` (other dates kept).

    `rows` must only hold rows of those dates; a date without rows is emptied in ADX.
    """
    from azure.kusto.data import KustoClient

    columns = kusto_columns(schema)
    if EVENT_DATE not in dict(columns):
        raise ValueError(f"{table}: schema has no {EVENT_DATE} column to publish by")
    missing = [name for name, _ in columns if name not in rows.columns]
    if missing:
        raise ValueError(f"{table}: rows lack columns {missing}")
    dates = sorted(set(event_dates))
    row_dates = _dates_of(rows)
    stray = sorted(set(row_dates) - set(dates))
    if stray:
        raise ValueError(f"{table}: rows hold event_dates not being published: {stray[:5]}")

    staging = staging_table(table)
    quote_name(staging)
    today = _utcnow().date()
    rows_by_date: dict[date, int] = {}
    replaced = 0
    with KustoClient(connection_string(settings)) as client:

        def run(csl: str, what: str) -> list[dict[str, Any]]:
            return _run(client, settings, csl, what)

        run(create_merge_command(table, columns), f"create table {table}")
        run(create_merge_command(staging, columns, STAGING_FOLDER), f"create table {staging}")
        for day in dates:
            day_rows = rows[row_dates == day]
            rows_by_date[day] = len(day_rows)
            replaced += _publish_date(run, table, staging, columns, day, day_rows, today)
    return PublishResult(
        table=table,
        database=settings.database,
        rows_by_date=rows_by_date,
        replaced_extents=replaced,
    )


def _publish_date(
    run: Callable[[str, str], list[dict[str, Any]]],
    table: str,
    staging: str,
    columns: list[tuple[str, str]],
    day: date,
    day_rows: pd.DataFrame,
    today: date,
) -> int:
    """Swap in one date's rows; returns how many old extents of `table` were dropped."""
    tag = drop_by_tag(day)
    if day_rows.empty:
        dropped = run(drop_extents_command(table, tag), f"drop {day} from {table}")
        log.info("ADX %s: %s has no rows; dropped %d extents", table, day, len(dropped))
        return len(dropped)
    run(drop_extents_command(staging, tag), f"clear leftovers of {day} in {staging}")
    for chunk in csv_chunks(day_rows, columns):
        run(ingest_inline_command(staging, columns, [tag], chunk), f"ingest {day} into {staging}")
    result = run(replace_extents_command(table, staging, tag, today), f"replace {day} in {table}")
    moved = sum(1 for r in result if r.get("ResultExtentId"))
    if not moved:  # the old rows may be gone: say so rather than report success
        raise UserError(f"ADX replace of {day} in {table} moved no new extents; rerun the publish")
    log.info("ADX %s: published %d rows for %s", table, len(day_rows), day)
    return len(result) - moved


def gold_frames_for_dates(spark_df: SparkDataFrame, event_dates: Iterable[date]) -> pd.DataFrame:
    """The rows of a (small) gold table for the given event_dates, as pandas for publish_gold."""
    from pyspark.sql import functions as F

    dates = sorted(set(event_dates))
    if not dates:
        return spark_df.limit(0).toPandas()
    return spark_df.where(F.col(EVENT_DATE).isin(dates)).toPandas()
