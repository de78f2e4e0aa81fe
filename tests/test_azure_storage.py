"""ADLS access: URL parsing and auth options, then landing discovery against real Azurite."""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azurite import ACCOUNT, azurite_binary, emulator_token, running_azurite
from fsspec import AbstractFileSystem

from pipelines import azure_storage
from pipelines.azure_storage import (
    AdlsLocation,
    adls_storage_options,
    parse_adls_url,
    redact,
    spark_abfss_conf,
)
from pipelines.config import UserError
from pipelines.landing import (
    LandingFile,
    filesystem,
    fingerprint,
    list_ingest_dates,
    list_landing_files,
    upload_folder,
)

AZURE_ENV = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
)


@pytest.fixture(autouse=True)
def clean_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own Azure settings must not leak into these tests.
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


# --- URL parsing and adlfs options (no network) ---------------------------------------------


def test_parse_adls_url() -> None:
    assert parse_adls_url("abfss://landing@techventure.dfs.core.windows.net/raw/") == (
        AdlsLocation("landing", "techventure", "raw")
    )
    assert parse_adls_url("abfs://landing/raw/x") == AdlsLocation("landing", None, "raw/x")
    assert parse_adls_url("az://landing") == AdlsLocation("landing", None, "")
    china = parse_adls_url("abfss://lake@acct01.dfs.core.chinacloudapi.cn/p")
    assert (china.account, china.endpoint_suffix) == ("acct01", "core.chinacloudapi.cn")


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/landing",
        "abfss://",
        "abfss:///landing",
        "abfss://Landing@acct.dfs.core.windows.net/x",  # upper case container
        "abfss://landing@acct.file.core.windows.net/x",  # not dfs/blob
        "abfss://landing@localhost/x",
        "abfss://landing@ACCOUNT_1.dfs.core.windows.net/x",
        "abfss://a--b@acct.dfs.core.windows.net/x",
    ],
)
def test_unparseable_url_is_a_user_error(url: str) -> None:
    with pytest.raises(UserError):
        adls_storage_options(url)


def test_options_use_connection_string_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    cs = "DefaultEndpointsProtocol=https;AccountName=techventure;AccountKey=c2VjcmV0;"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", cs)
    assert adls_storage_options("abfs://landing/raw") == {"connection_string": cs}
    url = "abfss://landing@techventure.dfs.core.windows.net/raw"
    assert adls_storage_options(url) == {"connection_string": cs}
    with pytest.raises(UserError, match="other"):
        adls_storage_options("abfss://landing@other.dfs.core.windows.net/raw")


def test_options_without_connection_string_use_default_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from azure.identity.aio import DefaultAzureCredential

    options = adls_storage_options("abfss://landing@techventure.dfs.core.windows.net/raw")
    assert options["account_name"] == "techventure"
    assert options["anon"] is False
    assert isinstance(options["credential"], DefaultAzureCredential)
    assert "account_host" not in options

    with pytest.raises(UserError, match="AZURE_STORAGE_ACCOUNT_NAME"):
        adls_storage_options("abfs://landing/raw")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "techventure")
    assert adls_storage_options("abfs://landing/raw")["account_name"] == "techventure"

    gov = adls_storage_options("abfss://landing@acct01.dfs.core.usgovcloudapi.net/raw")
    assert gov["account_host"] == "acct01.blob.core.usgovcloudapi.net"


# --- Spark ABFS conf ------------------------------------------------------------------------

HOST = "techventure.dfs.core.windows.net"


def test_spark_conf_service_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    monkeypatch.setenv("AZURE_CLIENT_ID", "client-1")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cr3t")
    assert spark_abfss_conf("techventure", "service_principal") == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": (
            "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
        ),
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-1",
        f"fs.azure.account.oauth2.client.secret.{HOST}": "s3cr3t",
        f"fs.azure.account.oauth2.client.endpoint.{HOST}": (
            "https://login.microsoftonline.com/tenant-1/oauth2/token"
        ),
    }


def test_spark_conf_reads_custom_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_TENANT", "t")
    monkeypatch.setenv("LAKE_CLIENT", "c")
    monkeypatch.setenv("LAKE_SECRET", "s")
    conf = spark_abfss_conf(
        "techventure",
        "service-principal",
        tenant_id_env="LAKE_TENANT",
        client_id_env="LAKE_CLIENT",
        client_secret_env="LAKE_SECRET",
    )
    assert conf[f"fs.azure.account.oauth2.client.secret.{HOST}"] == "s"


@pytest.mark.parametrize("missing", ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"])
def test_spark_conf_service_principal_missing_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.setenv(name, "value")
    monkeypatch.setenv(missing, "  ")  # blank counts as missing
    with pytest.raises(UserError, match=missing):
        spark_abfss_conf("techventure", "service_principal")


def test_spark_conf_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"
    # System-assigned identity: nothing to read, and a stray secret is not used.
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "unused")
    assert spark_abfss_conf("techventure", "managed_identity") == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": provider,
    }
    # User-assigned identity: its client id (and tenant) come from the environment.
    monkeypatch.setenv("AZURE_CLIENT_ID", "mi-client")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    assert spark_abfss_conf("TechVenture", "managed_identity") == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": provider,
        f"fs.azure.account.oauth2.msi.tenant.{HOST}": "tenant-1",
        f"fs.azure.account.oauth2.client.id.{HOST}": "mi-client",
    }


@pytest.mark.parametrize(("account", "auth"), [("tv", "managed_identity"), ("techventure", "key")])
def test_spark_conf_rejects_bad_arguments(account: str, auth: str) -> None:
    with pytest.raises(UserError):
        spark_abfss_conf(account, auth)


def test_redact_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]:
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cr3t-value")
    conf = spark_abfss_conf("techventure", "service_principal")
    conf["fs.azure.account.key.other.dfs.core.windows.net"] = "a2V5"
    conf["spark.some.setting"] = "DefaultEndpointsProtocol=https;AccountKey=a2V5"
    shown = redact(conf)
    assert "s3cr3t-value" not in str(shown) and "a2V5" not in str(shown)
    assert shown[f"fs.azure.account.oauth2.client.secret.{HOST}"] == "***"
    assert shown[f"fs.azure.account.oauth2.client.id.{HOST}"] == "c"  # ids stay readable
    for visible in ("auth.type", "oauth.provider.type", "oauth2.client.endpoint"):
        key = f"fs.azure.account.{visible}.{HOST}"
        assert shown[key] == conf[key] != "***"
    assert conf[f"fs.azure.account.oauth2.client.secret.{HOST}"] == "s3cr3t-value"  # a copy
    assert redact({"connection_string": "x", "account_name": "a"}) == {
        "connection_string": "***",
        "account_name": "a",
    }


# --- Against Azurite (Blob API, through adlfs) ----------------------------------------------


@pytest.fixture(scope="module")
def azurite_cs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if azurite_binary() is None:
        pytest.skip("Azurite not installed (run: bash scripts/setup.sh --test)")
    with running_azurite(tmp_path_factory.mktemp("azurite")) as cs:
        yield cs


@pytest.fixture
def container(azurite_cs: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh container on Azurite, reached the production way: the connection string env."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_cs)
    name = f"t{uuid.uuid4().hex[:12]}"
    fs, _ = filesystem(f"abfs://{name}")
    fs.mkdir(name)
    return name


def _write(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    with fs.open(path, "wb") as out:
        out.write(data)


JSONL = b'{"event_id": "a"}\n{"event_id": "b"}\n'
JSONL_GZ = gzip.compress(b'{"event_id": "c"}\n', mtime=0)


def _landing_zone(container: str) -> str:
    landing = f"abfs://{container}/landing"
    fs, root = filesystem(landing)
    files = {
        "ingest_date=2026-11-01/part-000.jsonl": JSONL,
        "ingest_date=2026-11-01/part-001.jsonl.gz": JSONL_GZ,
        "ingest_date=2026-11-01/_SUCCESS": b"",
        "ingest_date=2026-11-01/part-002.jsonl.tmp": b"half",
        "ingest_date=2026-11-01/.part-003.jsonl": b"hidden",
        "ingest_date=2026-11-03/sub/nested.jsonl": JSONL,  # not directly in the date folder
        "ingest_date=2026-11-03/b.jsonl": JSONL,
        "ingest_date=2026-11-03/a.jsonl.gz": JSONL_GZ,
        "ingest_date=2026-11-02.tmp/x.jsonl": JSONL,  # not a date folder
        "other/x.jsonl": JSONL,
        "notes.jsonl": JSONL,
    }
    for name, data in files.items():
        _write(fs, f"{root}/{name}", data)
    return landing


@pytest.mark.slow
def test_landing_discovery_on_azurite(container: str) -> None:
    landing = _landing_zone(container)
    assert list_ingest_dates(landing) == [date(2026, 11, 1), date(2026, 11, 3)]

    day1 = f"abfs://{container}/landing/ingest_date=2026-11-01"
    assert list_landing_files(landing, date(2026, 11, 1)) == [
        LandingFile(f"{day1}/part-000.jsonl", len(JSONL)),
        LandingFile(f"{day1}/part-001.jsonl.gz", len(JSONL_GZ)),
    ]
    day3 = f"abfs://{container}/landing/ingest_date=2026-11-03"
    assert list_landing_files(landing, date(2026, 11, 3)) == [
        LandingFile(f"{day3}/a.jsonl.gz", len(JSONL_GZ)),
        LandingFile(f"{day3}/b.jsonl", len(JSONL)),
    ]
    assert list_landing_files(landing, date(2026, 11, 2)) == []
    # A trailing slash and the az:// scheme name the same place.
    assert list_ingest_dates(landing + "/") == list_ingest_dates(f"az://{container}/landing")


@pytest.mark.slow
def test_listed_paths_read_back(container: str) -> None:
    landing = _landing_zone(container)
    fs, _ = filesystem(landing)
    files = list_landing_files(landing, date(2026, 11, 1))
    assert [fs.cat_file(f.path) for f in files] == [JSONL, JSONL_GZ]


@pytest.mark.slow
def test_fingerprint_sees_a_late_file_from_another_writer(container: str, azurite_cs: str) -> None:
    from azure.storage.blob import BlobServiceClient

    landing = _landing_zone(container)
    day = date(2026, 11, 1)
    before = fingerprint(list_landing_files(landing, day))
    assert fingerprint(list_landing_files(landing, day)) == before  # stable

    # Another process's client, so no fsspec cache of ours is told about the new blob.
    blobs = BlobServiceClient.from_connection_string(azurite_cs)
    blobs.get_blob_client(container, "landing/ingest_date=2026-11-01/late.jsonl").upload_blob(JSONL)
    after = list_landing_files(landing, day)
    assert [Path(f.path).name for f in after] == [
        "late.jsonl",
        "part-000.jsonl",
        "part-001.jsonl.gz",
    ]
    assert fingerprint(after) != before

    # A new date folder appears too.
    blobs.get_blob_client(container, "landing/ingest_date=2026-11-04/x.jsonl").upload_blob(JSONL)
    assert date(2026, 11, 4) in list_ingest_dates(landing)


@pytest.mark.slow
def test_missing_landing_is_a_user_error(container: str) -> None:
    with pytest.raises(UserError, match="landing zone not found"):
        list_ingest_dates(f"abfs://{container}/nowhere")
    with pytest.raises(UserError, match="landing zone not found"):
        list_ingest_dates(f"abfs://no-such-container-{container}/landing")


@pytest.mark.slow
def test_upload_folder(azurite_cs: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_cs)
    (tmp_path / "ingest_date=2026-11-05").mkdir()
    (tmp_path / "ingest_date=2026-11-05" / "p.jsonl").write_bytes(JSONL)
    (tmp_path / "ingest_date=2026-11-05" / "_SUCCESS").write_bytes(b"")
    url = f"abfs://u{uuid.uuid4().hex[:12]}/landing"  # the container does not exist yet
    uploaded = upload_folder(tmp_path, url)
    assert uploaded == [
        f"{url}/ingest_date=2026-11-05/_SUCCESS",
        f"{url}/ingest_date=2026-11-05/p.jsonl",
    ]
    assert list_ingest_dates(url) == [date(2026, 11, 5)]
    assert list_landing_files(url, date(2026, 11, 5)) == [
        LandingFile(f"{url}/ingest_date=2026-11-05/p.jsonl", len(JSONL))
    ]


@pytest.mark.slow
def test_full_abfss_url_keeps_the_account_for_spark(container: str) -> None:
    landing = _landing_zone(container)
    url = f"abfss://{container}@devstoreaccount1.dfs.core.windows.net/landing"
    assert list_ingest_dates(url) == list_ingest_dates(landing)
    day = f"{url}/ingest_date=2026-11-03"
    # Spark's abfss:// driver needs `container@account...` in every path it is given.
    assert [f.path for f in list_landing_files(url, date(2026, 11, 3))] == [
        f"{day}/a.jsonl.gz",
        f"{day}/b.jsonl",
    ]


@pytest.mark.slow
def test_generate_landing_straight_to_azurite(container: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("pipelines.generate") is None:
        pytest.skip("pipelines/generate.py does not exist yet")
    from pipelines.generate import generate_landing

    remote = f"abfs://{container}/landing"
    local = str(tmp_path / "landing")
    summary = generate_landing(remote, days=2, records=40, seed=7)
    generate_landing(local, days=2, records=40, seed=7)

    dates = list_ingest_dates(remote)
    assert dates == list(summary.dates) == list_ingest_dates(local)
    listed = []
    for day in dates:
        remote_files = list_landing_files(remote, day)
        listed += [f.path.removeprefix(f"{remote}/") for f in remote_files]
        # Same seed, same bytes: the remote zone matches the local one file for file.
        assert [(Path(f.path).name, f.size) for f in remote_files] == [
            (Path(f.path).name, f.size) for f in list_landing_files(local, day)
        ]
    assert sorted(listed) == sorted(summary.files)
    fs, root = filesystem(remote)
    assert summary.ignored_files  # written, and left out of the listing
    assert all(fs.exists(f"{root}/{name}") for name in summary.ignored_files)


# --- The token route (no connection string), against Azurite's HTTPS + OAuth mode ----------


class StandInCredential:
    """Takes the place of azure.identity.aio.DefaultAzureCredential (no identity here)."""

    def __init__(self, lifetime_s: int = 3600) -> None:
        self.lifetime_s = lifetime_s
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.calls += 1
        return AccessToken(emulator_token(self.lifetime_s), int(time.time()) + 3600)

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if azurite_binary() is None:
        pytest.skip("Azurite not installed (run: bash scripts/setup.sh --test)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found (needed for Azurite's HTTPS mode)")
    location = tmp_path_factory.mktemp("azurite-oauth")
    with running_azurite(location, oauth=True) as cs:
        yield cs, location / "cert.pem"


@pytest.fixture
def token_landing(azurite_oauth: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """An abfss:// landing on the emulator, reached with our token options, not a key."""
    import aiohttp.connector
    from azure.storage.blob import BlobServiceClient

    cs, cert = azurite_oauth
    if not hasattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED"):
        pytest.skip("cannot make aiohttp trust the emulator's certificate")
    # aiohttp builds its TLS context at import, so SSL_CERT_FILE would come too late.
    context = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", context)
    port = int(cs.split("BlobEndpoint=https://127.0.0.1:", 1)[1].split("/", 1)[0])
    real_options = azure_storage.adls_storage_options

    def emulator_options(url: str) -> dict:
        # Exactly what production gets, pointed at the emulator instead of Azure.
        return {**real_options(url), "account_host": f"127.0.0.1:{port}/{ACCOUNT}"}

    monkeypatch.setattr(azure_storage, "adls_storage_options", emulator_options)

    name = f"o{uuid.uuid4().hex[:12]}"
    writer = BlobServiceClient.from_connection_string(cs, connection_verify=str(cert))
    writer.create_container(name)
    for blob in ["part-0.jsonl", "part-1.jsonl.gz", "_SUCCESS"]:
        writer.get_blob_client(name, f"landing/ingest_date=2026-11-01/{blob}").upload_blob(JSONL)
    return f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/landing"


@pytest.mark.slow
def test_token_credential_route_on_azurite(
    token_landing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = StandInCredential()
    monkeypatch.setattr(azure_storage, "_default_credential", lambda: credential)
    options = azure_storage.adls_storage_options(token_landing)
    assert options["credential"] is credential and options["account_name"] == ACCOUNT

    assert list_ingest_dates(token_landing) == [date(2026, 11, 1)]
    day = f"{token_landing}/ingest_date=2026-11-01"
    assert list_landing_files(token_landing, date(2026, 11, 1)) == [
        LandingFile(f"{day}/part-0.jsonl", len(JSONL)),
        LandingFile(f"{day}/part-1.jsonl.gz", len(JSONL)),
    ]
    assert credential.calls >= 1


@pytest.mark.slow
def test_rejected_token_is_not_an_empty_landing(
    token_landing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = StandInCredential(lifetime_s=-120)
    monkeypatch.setattr(azure_storage, "_default_credential", lambda: expired)
    # A refused token fails loudly; it must never look like a landing zone with no dates.
    with pytest.raises(ClientAuthenticationError):
        list_ingest_dates(token_landing)
