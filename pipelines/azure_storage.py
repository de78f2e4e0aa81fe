"""ADLS Gen2 access: fsspec (adlfs) options for Python, Hadoop ABFS conf for Spark.

Secrets come only from the environment (read through `pipelines.config.settings()`) or
Azure identity at call time; nothing here writes one to a file or a log (use `redact`
before printing a conf).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipelines.config import UserError, settings, variable

SCHEMES = ("abfs", "abfss", "az")
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_NAME_ENV = "AZURE_STORAGE_ACCOUNT_NAME"
PUBLIC_CLOUD_SUFFIX = "core.windows.net"

# Azure's naming rules, checked here so a typo fails with one clear line, not an HTTP 400.
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


@dataclass(frozen=True)
class AdlsLocation:
    """The parts of `abfss://container@account.dfs.core.windows.net/path`."""

    container: str
    account: str | None  # None for `abfs://container/path` (account from elsewhere)
    path: str  # inside the container, no leading slash
    endpoint_suffix: str = PUBLIC_CLOUD_SUFFIX


def parse_adls_url(url: str) -> AdlsLocation:
    """Split an ADLS URL; raise UserError when it cannot name a container."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise UserError(f"not an ADLS URL (expected abfss://container@account...): {url!r}")
    container, account, suffix = parts.netloc, None, PUBLIC_CLOUD_SUFFIX
    if "@" in parts.netloc:
        container, host = parts.netloc.split("@", 1)
        labels = host.lower().split(".", 2)
        if len(labels) != 3 or labels[1] not in ("dfs", "blob") or "." not in labels[2]:
            raise UserError(
                f"ADLS URL host must be <account>.dfs.core.windows.net, got {host!r} in {url!r}"
            )
        account, suffix = labels[0], labels[2]
        if not _ACCOUNT.fullmatch(account):
            raise UserError(f"not a valid storage account name {account!r} in {url!r}")
    if not _CONTAINER.fullmatch(container):
        raise UserError(
            f"not a valid container name {container!r} in {url!r} "
            "(3-63 lower-case letters, digits and single hyphens)"
        )
    return AdlsLocation(container, account, parts.path.strip("/"), suffix)


def adls_storage_options(url: str) -> dict[str, Any]:
    """fsspec/adlfs storage options for `url`.

    `AZURE_STORAGE_CONNECTION_STRING` wins when set (Azurite, or a SAS/key string kept in a
    secret store); otherwise the account comes from the URL (or `AZURE_STORAGE_ACCOUNT_NAME`)
    and the token from `DefaultAzureCredential` (managed identity, workload identity,
    `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`, `az login`, ...).
    """
    location = parse_adls_url(url)
    azure = settings().azure
    connection_string = azure.connection_string
    if connection_string:
        named = _connection_string_account(connection_string)
        if location.account and named and named.lower() != location.account:
            raise UserError(
                f"{url!r} names account {location.account!r} but "
                f"{CONNECTION_STRING_ENV} is for account {named!r}"
            )
        return {"connection_string": connection_string}

    account = location.account or azure.azure_storage_account_name
    if not account:
        raise UserError(
            f"{url!r} names no storage account: use abfss://container@account.dfs.core.windows.net/"
            f"..., or set {ACCOUNT_NAME_ENV} or {CONNECTION_STRING_ENV}"
        )
    options: dict[str, Any] = {
        "account_name": account,
        "anon": False,
        "credential": _default_credential(),
    }
    if location.endpoint_suffix != PUBLIC_CLOUD_SUFFIX:  # sovereign clouds
        options["account_host"] = f"{account}.blob.{location.endpoint_suffix}"
    return options


@functools.cache
def _default_credential() -> Any:
    # adlfs talks to Azure asynchronously, so the credential is the aio one. One per
    # process: the same object keeps fsspec's filesystem cache (and its token) warm.
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def _connection_string_account(connection_string: str) -> str | None:
    for item in connection_string.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == "accountname":
            return value.strip()
    return None


# --- Spark (Hadoop ABFS driver) ------------------------------------------------------------

_PROVIDERS = {
    "service_principal": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
    "managed_identity": "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider",
}


def spark_abfss_conf(
    account: str,
    auth: str,
    tenant_id_env: str = "AZURE_TENANT_ID",
    client_id_env: str = "AZURE_CLIENT_ID",
    client_secret_env: str = "AZURE_CLIENT_SECRET",
) -> dict[str, str]:
    """Hadoop ABFS OAuth conf for one storage account, values read from the environment now.

    `auth` is `service_principal` (needs tenant id, client id and secret) or
    `managed_identity` (tenant and client id optional; the client id picks a user-assigned
    identity). Keys are per account, so several accounts can be configured side by side.
    Set them with `spark.conf.set` (Databricks notebook / Spark Connect) or the session
    builder; in a cluster's Spark config prefix each key with `spark.hadoop.`.
    """
    account = account.strip().lower()
    if not _ACCOUNT.fullmatch(account):
        raise UserError(f"not a valid storage account name: {account!r}")
    mode = auth.strip().lower().replace("-", "_")
    if mode not in _PROVIDERS:
        raise UserError(f"unknown ADLS auth {auth!r}: expected one of {sorted(_PROVIDERS)}")

    host = f"{account}.dfs.{PUBLIC_CLOUD_SUFFIX}"
    conf = {
        f"fs.azure.account.auth.type.{host}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{host}": _PROVIDERS[mode],
    }
    if mode == "service_principal":
        tenant = _require_env(tenant_id_env, mode)
        conf[f"fs.azure.account.oauth2.client.id.{host}"] = _require_env(client_id_env, mode)
        conf[f"fs.azure.account.oauth2.client.secret.{host}"] = _require_env(
            client_secret_env, mode
        )
        conf[f"fs.azure.account.oauth2.client.endpoint.{host}"] = (
            f"https://login.microsoftonline.com/{tenant}/oauth2/token"
        )
    else:
        if tenant := variable(tenant_id_env):
            conf[f"fs.azure.account.oauth2.msi.tenant.{host}"] = tenant
        if client_id := variable(client_id_env):
            conf[f"fs.azure.account.oauth2.client.id.{host}"] = client_id
    return conf


def _require_env(name: str, mode: str) -> str:
    value = variable(name)
    if not value:
        raise UserError(f"ADLS {mode} auth needs the environment variable {name}")
    return value


_SECRET_KEY = re.compile(r"secret|password|passwd|token|sas|credential|connection.?string|\.key\b")
_SECRET_VALUE = re.compile(r"AccountKey=|SharedAccessSignature=|[?&]sig=", re.IGNORECASE)


def redact(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `conf` safe to log: secret-looking values replaced by `***`."""
    out: dict[str, Any] = {}
    for key, value in conf.items():
        hidden = _SECRET_KEY.search(key.lower()) or (
            isinstance(value, str) and _SECRET_VALUE.search(value)
        )
        out[key] = "***" if hidden else value
    return out
