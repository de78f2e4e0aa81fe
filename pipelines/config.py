"""Settings in one place: every environment variable the project reads, typed, read on demand.

Why here and not in `pipelines/options.py`: this module imports nothing of the project's
and every pipelines module already imports it (`UserError`), so the lowest ones (locks,
azure_storage, jars) can read their settings without an import cycle; `options.py` sits
above `pipelines.plan` and keeps the command-line side (options over these defaults ->
`RunSettings`).

Each group is a pydantic-settings class named by its variables' prefix. `settings()` gives
an object whose groups are read from the environment when first asked for (nothing is
read at import time), and a bad value becomes a one-line `UserError` naming the variable.
Empty variables count as unset. Entry points read them and pass values down; a library
function takes the value as a parameter that defaults to reading `settings()`.

    run          LAKEHOUSE_LANDING, LAKEHOUSE_ROOT, LAKEHOUSE_GATE_THRESHOLD (0..1, default
                 0.25), LAKEHOUSE_DATA_DOCS, LAKEHOUSE_FIRST_INGEST_DATE (Dagster partitions)
    spark        LAKEHOUSE_SPARK_MASTER (default local[2]), LAKEHOUSE_SPARK_CONF, SPARK_REMOTE
    adx          LAKEHOUSE_ADX_CLUSTER_URL, LAKEHOUSE_ADX_DATABASE, LAKEHOUSE_ADX_INGEST_URL
    alerts       LAKEHOUSE_ALERT_WEBHOOK_URL (secret)
    lease        LAKEHOUSE_LEASE_SECONDS (60), LAKEHOUSE_LOCK_WAIT_SECONDS (10800),
                 LAKEHOUSE_LEASE_HOLDER_HOST (tests simulate another host with it)
    jars         LAKEHOUSE_MAVEN_REPO, LAKEHOUSE_JARS_DIR
    erasure      LAKEHOUSE_ERASURE_SALT (secret)
    maintenance  LAKEHOUSE_MAINTENANCE_RETENTION_HOURS (168)
    azure        AZURE_STORAGE_CONNECTION_STRING (secret), AZURE_STORAGE_ACCOUNT_NAME,
                 AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (secret),
                 LAKEHOUSE_ADLS_SPARK_AUTH

Secrets come only from the environment (or Azure identity, in `pipelines.azure_storage`)
and are `SecretStr` here, so printing a settings object never shows them.

Not ours, left where they are used: JAVA_HOME and DATABRICKS_RUNTIME_VERSION (read by
`pipelines.spark`), DAGSTER_HOME (`orchestration.home`), SPARK_LOCAL_IP and PYSPARK_PYTHON
(set for child processes by `pipelines.spark` and `pipelines.jars`), the environment handed
on to `dagster dev` (`orchestration.ui`), and in `orchestration.resources` Dagster's own
`EnvVar` resolution of resource fields (a set variable is shown as such in the UI) and the
storage resource's configured credentials, put into the environment for `azure` above.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import DEFAULT_GATE_THRESHOLD


class UserError(Exception):
    """A mistake the user can fix (bad path, bad date, missing Java): shown as one line."""


def parse_spark_conf(text: str | None) -> dict[str, str]:
    """Parse `key=value` pairs separated by `;` or newlines (LAKEHOUSE_SPARK_CONF)."""
    conf: dict[str, str] = {}
    for item in (text or "").replace("\n", ";").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"LAKEHOUSE_SPARK_CONF: expected key=value, got {item.strip()!r}")
        conf[key.strip()] = value.strip()
    return conf


def check_gate_threshold(value: float, name: str = "LAKEHOUSE_GATE_THRESHOLD") -> float:
    """The one check of a §4 gate threshold, from the environment or `--gate-threshold`."""
    if not 0 <= value <= 1:
        raise UserError(f"{name} must be between 0 and 1, got {value}")
    return value


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs: local by default, a cluster master, or a Spark Connect remote."""

    master: str = "local[2]"
    remote: str | None = None
    extra_conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SparkSettings:
        return settings().spark.spark_settings()


# --- the groups -------------------------------------------------------------------------


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, extra="ignore", env_ignore_empty=True, str_strip_whitespace=True
    )


class RunEnv(BaseSettings):
    """Where a run reads and writes, how strict its gate is, where Data Docs go."""

    model_config = _config("LAKEHOUSE_")

    landing: str = ""
    root: str = ""
    gate_threshold: float = DEFAULT_GATE_THRESHOLD
    data_docs: str = ""  # a folder, "off", or "" for <root>/_data_docs on a local lakehouse
    first_ingest_date: str = ""  # YYYY-MM-DD: Dagster's first partition (default 2020-01-01)

    @field_validator("gate_threshold")
    @classmethod
    def _threshold(cls, value: float) -> float:
        return check_gate_threshold(value)


class SparkEnv(BaseSettings):
    model_config = _config("LAKEHOUSE_SPARK_")

    master: str = "local[2]"
    conf: str = ""  # key=value;key=value (parse_spark_conf)
    remote: str = Field("", validation_alias="SPARK_REMOTE")  # Spark Connect: sc://host:15002

    def spark_settings(self) -> SparkSettings:
        return SparkSettings(self.master, self.remote or None, parse_spark_conf(self.conf))


class AdxEnv(BaseSettings):
    """Azure Data Explorer publishing (`pipelines.adx.AdxSettings`): off when unset."""

    model_config = _config("LAKEHOUSE_ADX_")

    cluster_url: str = ""
    database: str = ""
    ingest_url: str = ""


class AlertsEnv(BaseSettings):
    model_config = _config("LAKEHOUSE_ALERT_")

    webhook_url: SecretStr = SecretStr("")  # the URL is the credential


class LeaseEnv(BaseSettings):
    """The lakehouse lease (`pipelines.locks`)."""

    model_config = _config("LAKEHOUSE_")

    lease_seconds: float = 60.0
    lock_wait_seconds: float = 3 * 3600.0  # a live holder may run a long backfill
    lease_holder_host: str = ""  # default: this machine's host name


class JarsEnv(BaseSettings):
    """The Delta jars of a locally started JVM (`pipelines.jars`)."""

    model_config = _config("LAKEHOUSE_")

    maven_repo: str = ""  # default Maven Central
    jars_dir: str = ""  # default .jars/ in the checkout


class ErasureEnv(BaseSettings):
    model_config = _config("LAKEHOUSE_ERASURE_")

    salt: SecretStr = SecretStr("")  # of the erasure audit's subject hash


class MaintenanceEnv(BaseSettings):
    model_config = _config("LAKEHOUSE_MAINTENANCE_")

    retention_hours: float = Field(168.0, description="a number of hours")


class AzureEnv(BaseSettings):
    """ADLS credentials; with none set, `DefaultAzureCredential` (Azure identity) is used."""

    model_config = _config("")

    azure_storage_connection_string: SecretStr = SecretStr("")
    azure_storage_account_name: str = ""
    azure_tenant_id: str = ""
    azure_client_id: str = ""
    azure_client_secret: SecretStr = SecretStr("")
    lakehouse_adls_spark_auth: str = ""  # service_principal | managed_identity

    @property
    def connection_string(self) -> str:
        return self.azure_storage_connection_string.get_secret_value()


Group = TypeVar("Group", bound=BaseSettings)


def read(group: type[Group]) -> Group:
    """One group from the environment now; a bad value is one UserError naming its variable."""
    try:
        return group()
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0])
        info = group.model_fields.get(key)
        name = (group.model_config.get("env_prefix", "") + key).upper() if info else key.upper()
        got = first.get("input")
        if first["type"] == "float_parsing":
            what = (info.description if info else None) or "a number"
            raise UserError(f"{name} must be {what}, got {got!r}") from None
        raise UserError(f"{name}: {first['msg']} (got {got!r})") from None


class Settings:
    """Every group; each is read from the environment when first asked for."""

    @functools.cached_property
    def run(self) -> RunEnv:
        return read(RunEnv)

    @functools.cached_property
    def spark(self) -> SparkEnv:
        return read(SparkEnv)

    @functools.cached_property
    def adx(self) -> AdxEnv:
        return read(AdxEnv)

    @functools.cached_property
    def alerts(self) -> AlertsEnv:
        return read(AlertsEnv)

    @functools.cached_property
    def lease(self) -> LeaseEnv:
        return read(LeaseEnv)

    @functools.cached_property
    def jars(self) -> JarsEnv:
        return read(JarsEnv)

    @functools.cached_property
    def erasure(self) -> ErasureEnv:
        return read(ErasureEnv)

    @functools.cached_property
    def maintenance(self) -> MaintenanceEnv:
        return read(MaintenanceEnv)

    @functools.cached_property
    def azure(self) -> AzureEnv:
        return read(AzureEnv)


def settings() -> Settings:
    """The settings as the environment has them now (a new object each call: nothing cached
    across calls, so a test's or a Dagster resource's change of the environment is seen)."""
    return Settings()


def variable(name: str) -> str:
    """A variable whose name the caller chose (`spark_abfss_conf`'s `*_env` parameters)."""
    return os.environ.get(name, "").strip()
