"""Publishing gold to ADX, against tests/fake_kusto.py (a local REST stand-in, not a cluster)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from azure.kusto.data import KustoClient
from fake_kusto import FakeKusto  # tests/ is on sys.path (rootdir conftest)
from ports import free_port
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines import adx
from pipelines.adx import AdxSettings, publish_gold
from pipelines.config import UserError
from schemas.tables import GOLD

DB = "lakehouse"
DAU = "daily_active_users"
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
NOW = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)


@pytest.fixture
def kusto(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKusto]:
    monkeypatch.setattr(adx, "_utcnow", lambda: NOW)
    with FakeKusto(databases=[DB], clock=lambda: NOW) as fake:
        yield fake


@pytest.fixture
def settings(kusto: FakeKusto) -> AdxSettings:
    return AdxSettings(cluster_url=kusto.url, database=DB)


def dau_rows(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_date", "tenant_id", "dau", "wau", "mau"])


def publish_dau(settings: AdxSettings, rows: pd.DataFrame, dates: list[date]) -> adx.PublishResult:
    return publish_gold(settings, DAU, rows, dates, GOLD[DAU])


def stored(kusto: FakeKusto, table: str = DAU) -> list[tuple]:
    return sorted(tuple(r.values()) for r in kusto.rows(DB, table))


def midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.0000000Z"


# --- settings and auth ---


def test_publishing_is_off_when_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_ADX_CLUSTER_URL", raising=False)
    monkeypatch.delenv("LAKEHOUSE_ADX_DATABASE", raising=False)
    assert AdxSettings.from_env() is None


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ADX_CLUSTER_URL", "https://tv.westeurope.kusto.windows.net/")
    monkeypatch.setenv("LAKEHOUSE_ADX_DATABASE", "gold")
    monkeypatch.delenv("LAKEHOUSE_ADX_INGEST_URL", raising=False)
    assert AdxSettings.from_env() == AdxSettings("https://tv.westeurope.kusto.windows.net", "gold")
    monkeypatch.delenv("LAKEHOUSE_ADX_DATABASE")
    with pytest.raises(UserError, match="set both"):
        AdxSettings.from_env()


@pytest.mark.parametrize(
    "url", ["http://10.0.0.4:8080", "http://tv.kusto.windows.net", "ftp://127.0.0.1", "tv"]
)
def test_plain_http_only_on_loopback(url: str) -> None:
    with pytest.raises(UserError, match="must be https"):
        AdxSettings(url, DB)


def test_auth_token_for_https_none_for_loopback() -> None:
    from azure.identity import DefaultAzureCredential

    cloud = adx.connection_string(AdxSettings("https://tv.westeurope.kusto.windows.net", DB))
    assert cloud.token_credential_login and isinstance(
        cloud.azure_credential, DefaultAzureCredential
    )
    for url in ("http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:9"):
        local = adx.connection_string(AdxSettings(url, DB))
        assert not local.aad_federated_security and not local.token_credential_login


# --- KQL text ---


def test_schema_maps_to_kusto_types() -> None:
    schema = StructType(
        [
            StructField("d", DateType()),
            StructField("ts", TimestampType()),
            StructField("s", StringType()),
            StructField("n", LongType()),
            StructField("i", IntegerType()),
            StructField("x", DoubleType()),
            StructField("b", BooleanType()),
        ]
    )
    assert adx.kusto_columns(schema) == [
        ("d", "datetime"),
        ("ts", "datetime"),
        ("s", "string"),
        ("n", "long"),
        ("i", "int"),
        ("x", "real"),
        ("b", "bool"),
    ]
    with pytest.raises(ValueError, match="no Kusto type"):
        adx.kusto_columns(StructType([StructField("m", StructType([]))]))


def test_names_and_strings_are_quoted() -> None:
    assert adx.quote_name("daily active-users.v2") == "['daily active-users.v2']"
    for bad in ["x']; .drop table y", "a\nb", "", " padded", 'q"']:
        with pytest.raises(ValueError):
            adx.quote_name(bad)
    assert adx.quote_string("it's a \\ test\n") == "'it\\'s a \\\\ test\\n'"


def test_csv_values() -> None:
    assert adx.csv_value(D1, "datetime", "c") == "2026-11-01T00:00:00Z"
    aware = datetime(2026, 11, 1, 13, 0, 0, 5, tzinfo=adx.UTC).astimezone()
    assert adx.csv_value(pd.Timestamp(aware), "datetime", "c") == "2026-11-01T13:00:00.000005Z"
    assert adx.csv_value(7.0, "long", "c") == "7"  # pandas turns nullable ints into floats
    assert adx.csv_value(float("nan"), "long", "c") == ""  # null
    assert adx.csv_value(None, "string", "c") == ""
    assert adx.csv_value(0.1, "real", "c") == "0.1"
    assert adx.csv_value(True, "bool", "c") == "true"
    with pytest.raises(ValueError, match="not an integer"):
        adx.csv_value(7.5, "long", "c")
    with pytest.raises(ValueError, match="cannot be published"):
        adx.csv_value(float("inf"), "real", "c")


# --- publishing ---

STAGING = "daily_active_users_staging"
COLUMNS = (
    "(['event_date']:datetime, ['tenant_id']:string, ['dau']:long, ['wau']:long, ['mau']:long)"
)
MAPPING = (
    '[{"column":"event_date","Properties":{"Ordinal":"0"}},'
    '{"column":"tenant_id","Properties":{"Ordinal":"1"}},'
    '{"column":"dau","Properties":{"Ordinal":"2"}},'
    '{"column":"wau","Properties":{"Ordinal":"3"}},'
    '{"column":"mau","Properties":{"Ordinal":"4"}}]'
)


def test_publish_sends_exactly_these_commands(kusto: FakeKusto, settings: AdxSettings) -> None:
    rows = dau_rows((D1, "t-1", 2, 3, 4), (D1, 'o\'k, "x"', 1, 1, None))
    result = publish_dau(settings, rows, [D1])

    assert result == adx.PublishResult(DAU, DB, {D1: 2}, replaced_extents=0)
    assert kusto.mgmt_commands() == [
        f".create-merge table ['{DAU}'] {COLUMNS}",
        f".create-merge table ['{STAGING}'] {COLUMNS} with (folder='lakehouse_staging')",
        f".drop extents <| .show table ['{STAGING}'] extents where tags has 'drop-by:2026-11-01'",
        f".ingest inline into table ['{STAGING}'] with (format='csv', ingestionMapping='{MAPPING}',"
        " tags='[\"drop-by:2026-11-01\"]') <|\n"
        "2026-11-01T00:00:00Z,t-1,2,3,4\n"
        '2026-11-01T00:00:00Z,"o\'k, ""x""",1,1,',
        f".replace extents in table ['{DAU}'] with (extentCreatedOnFrom=datetime(2020-01-01),"
        " extentCreatedOnTo=datetime(2026-11-05)) <|\n"
        f"{{.show table ['{DAU}'] extents where tags has 'drop-by:2026-11-01'}},\n"
        f"{{.show table ['{STAGING}'] extents where tags has 'drop-by:2026-11-01'}}",
    ]
    assert all(r.db == DB for r in kusto.requests)
    assert stored(kusto) == [
        (midnight(D1), 'o\'k, "x"', 1, 1, None),
        (midnight(D1), "t-1", 2, 3, 4),
    ]
    assert [e.tags for e in kusto.table(DB, DAU).extents] == [["drop-by:2026-11-01"]]
    assert kusto.table(DB, STAGING).extents == []


def test_a_reader_sees_the_published_rows(kusto: FakeKusto, settings: AdxSettings) -> None:
    publish_dau(settings, dau_rows((D1, "t-1", 2, 3, 4)), [D1])
    kcsb = adx.connection_string(settings)
    with KustoClient(kcsb) as client:
        table = client.execute_query(DB, f"['{DAU}']").primary_results[0]
        assert [list(row) for row in table] == [[datetime(2026, 11, 1, tzinfo=UTC), "t-1", 2, 3, 4]]


def test_republishing_a_date_leaves_one_copy(kusto: FakeKusto, settings: AdxSettings) -> None:
    publish_dau(settings, dau_rows((D1, "t-1", 2, 3, 4), (D1, "t-2", 1, 1, 1)), [D1])
    first = publish_dau(settings, dau_rows((D1, "t-1", 5, 6, 7)), [D1])
    again = publish_dau(settings, dau_rows((D1, "t-1", 5, 6, 7)), [D1])

    assert stored(kusto) == [(midnight(D1), "t-1", 5, 6, 7)]
    assert first.replaced_extents == 1 and again.replaced_extents == 1
    assert len(kusto.table(DB, DAU).extents) == 1


def test_publishing_another_date_keeps_the_first(kusto: FakeKusto, settings: AdxSettings) -> None:
    publish_dau(settings, dau_rows((D1, "t-1", 2, 3, 4)), [D1])
    publish_dau(settings, dau_rows((D2, "t-1", 1, 3, 4)), [D2])
    publish_dau(settings, dau_rows((D2, "t-1", 9, 9, 9)), [D2])

    assert stored(kusto) == [(midnight(D1), "t-1", 2, 3, 4), (midnight(D2), "t-1", 9, 9, 9)]


def test_several_dates_in_one_call(kusto: FakeKusto, settings: AdxSettings) -> None:
    rows = dau_rows((D2, "t-1", 1, 1, 1), (D1, "t-1", 2, 2, 2), (D1, "t-2", 3, 3, 3))
    result = publish_dau(settings, rows, [D2, D1, D1])
    assert result.rows_by_date == {D1: 2, D2: 1} and result.rows == 3
    publish_dau(settings, rows, [D1, D2])
    assert len(stored(kusto)) == 3


def test_a_date_with_no_rows_left_is_emptied(kusto: FakeKusto, settings: AdxSettings) -> None:
    publish_dau(settings, dau_rows((D1, "t-1", 2, 3, 4), (D2, "t-1", 1, 1, 1)), [D1, D2])
    result = publish_dau(settings, dau_rows(), [D1])

    assert result.rows_by_date == {D1: 0} and result.replaced_extents == 1
    assert kusto.mgmt_commands()[-1] == (
        f".drop extents <| .show table ['{DAU}'] extents where tags has 'drop-by:2026-11-01'"
    )
    assert stored(kusto) == [(midnight(D2), "t-1", 1, 1, 1)]


def test_a_failed_run_leaves_no_doubles(kusto: FakeKusto, settings: AdxSettings) -> None:
    publish_dau(settings, dau_rows((D1, "t-1", 1, 1, 1)), [D1])
    kusto.fail_next.append(".replace extents")
    with pytest.raises(UserError, match="refused to replace 2026-11-01"):
        publish_dau(settings, dau_rows((D1, "t-1", 2, 2, 2)), [D1])
    # Readers still see the old rows; the new ones wait in staging.
    assert stored(kusto) == [(midnight(D1), "t-1", 1, 1, 1)]
    assert len(kusto.table(DB, STAGING).extents) == 1

    publish_dau(settings, dau_rows((D1, "t-1", 3, 3, 3)), [D1])
    assert stored(kusto) == [(midnight(D1), "t-1", 3, 3, 3)]
    assert kusto.table(DB, STAGING).extents == []


def test_a_replace_that_moves_nothing_fails(kusto: FakeKusto, settings: AdxSettings) -> None:
    kusto.clock = lambda: datetime(2026, 11, 9, tzinfo=UTC)  # cluster clock far ahead of ours
    with pytest.raises(UserError, match="moved no new extents"):
        publish_dau(settings, dau_rows((D1, "t-1", 1, 1, 1)), [D1])


def test_big_dates_go_in_several_commands(
    kusto: FakeKusto, settings: AdxSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adx, "MAX_INLINE_BYTES", 100)
    rows = dau_rows(*[(D1, f"t-{i:03d}", i, i, i) for i in range(20)])
    publish_dau(settings, rows, [D1])
    publish_dau(settings, rows, [D1])

    ingests = [c for c in kusto.mgmt_commands() if c.startswith(".ingest inline")]
    assert len(ingests) > 4
    assert len(stored(kusto)) == 20


def test_rows_of_other_dates_are_refused(settings: AdxSettings) -> None:
    with pytest.raises(ValueError, match="not being published"):
        publish_dau(settings, dau_rows((D2, "t-1", 1, 1, 1)), [D1])


def test_every_gold_table_publishes(kusto: FakeKusto, settings: AdxSettings) -> None:
    samples = {"string": "x", "long": 1, "real": 0.5, "datetime": D1}
    for name, schema in GOLD.items():
        columns = adx.kusto_columns(schema)
        rows = pd.DataFrame([[samples[t] for _, t in columns]], columns=[c for c, _ in columns])
        publish_gold(settings, name, rows, [D1], schema)
        assert len(kusto.rows(DB, name)) == 1


# --- failures read as one line ---


def test_unreachable_endpoint_is_a_user_error() -> None:
    port = free_port()  # nothing listens there
    settings = AdxSettings(f"http://127.0.0.1:{port}", DB)
    with pytest.raises(UserError) as caught:
        publish_dau(settings, dau_rows((D1, "t-1", 1, 1, 1)), [D1])
    message = str(caught.value)
    assert message == (
        f"ADX cluster http://127.0.0.1:{port} is unreachable while trying to create table "
        "daily_active_users (check LAKEHOUSE_ADX_CLUSTER_URL and the network)"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_service_errors_are_user_errors(kusto: FakeKusto) -> None:
    settings = AdxSettings(kusto.url, "no_such_db")
    with pytest.raises(UserError, match="database no_such_db refused to create table .*not found"):
        publish_dau(settings, dau_rows((D1, "t-1", 1, 1, 1)), [D1])


# --- why not the streaming client ---


def test_streaming_ingest_cannot_carry_extent_tags(kusto: FakeKusto, settings: AdxSettings) -> None:
    from azure.kusto.data.data_format import DataFormat
    from azure.kusto.ingest import IngestionProperties, KustoStreamingIngestClient

    publish_dau(settings, dau_rows((D1, "t-1", 1, 1, 1)), [D1])
    props = IngestionProperties(DB, DAU, data_format=DataFormat.CSV, drop_by_tags=["2026-11-02"])
    client = KustoStreamingIngestClient(adx.connection_string(settings))
    try:
        client.ingest_from_stream(io.BytesIO(b"2026-11-02T00:00:00Z,t-9,1,1,1\n"), props)
    finally:
        client.close()

    request = kusto.requests[-1]
    assert request.path == f"/v1/rest/ingest/{DB}/{DAU}?streamFormat=csv"  # no tags anywhere
    assert [e.tags for e in kusto.table(DB, DAU).extents] == [["drop-by:2026-11-01"], []]


# --- from Spark ---


def test_gold_frames_for_dates(spark) -> None:  # noqa: ANN001 - the session fixture
    schema = GOLD[DAU]
    df = spark.createDataFrame(
        [(D1, "t-1", 1, 1, 1), (D2, "t-1", 2, 2, 2), (date(2026, 11, 3), "t-2", 3, 3, 3)], schema
    )
    frame = adx.gold_frames_for_dates(df, [D1, date(2026, 11, 3)])
    assert sorted(frame["dau"].tolist()) == [1, 3]
    assert list(frame.columns) == [f.name for f in schema]
    assert adx.gold_frames_for_dates(df, []).empty
