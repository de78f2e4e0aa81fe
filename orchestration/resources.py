"""Resources: the Spark session, the two locations, and the storage credentials.

Each field is read from an environment variable when it is set (shown as such in the UI,
resolved when a run starts) and falls back to a local default otherwise, so `dagster dev`
works on a fresh checkout and a deployment changes nothing but its environment.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from orchestration.jobs import JOB_NAME
from pipelines.checks import CheckResult
from pipelines.config import SparkSettings, parse_spark_conf, settings
from pipelines.options import data_docs_dir
from pipelines.plan import PlanOutcome
from pipelines.spark import get_spark

DEFAULT_LANDING = "local/landing"
DEFAULT_ROOT = "local/lakehouse"


def env_or(name: str, default: Any) -> Any:
    """`EnvVar(name)` when the variable is set, else the local default."""
    return EnvVar(name) if os.environ.get(name) else default


class AzureStorageResource(ConfigurableResource):
    """Credentials for `abfss://` locations (unused for local folders).

    The storage code reads them from the environment when it opens a location
    (`pipelines.azure_storage`), so setup puts configured values there; values that came
    from the environment in the first place are left as they are. `spark_auth`
    (`service_principal` / `managed_identity`) adds the Hadoop ABFS OAuth conf to Spark.
    """

    connection_string: str = ""
    account_name: str = ""
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    spark_auth: str = ""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        for env, value in {
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
            "AZURE_STORAGE_ACCOUNT_NAME": self.account_name,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
        }.items():
            if value and not os.environ.get(env):
                os.environ[env] = value

    def spark_conf(self) -> dict[str, str]:
        if not (self.spark_auth and self.account_name):
            return {}
        from pipelines.azure_storage import spark_abfss_conf

        return spark_abfss_conf(self.account_name, self.spark_auth)


class SparkResource(ConfigurableResource):
    """One SparkSession per run process, shared by every asset and check of the run.

    `get_spark` returns the process's active session when there is one (getOrCreate), so
    an in-process run started by `lakehouse run` or a test reuses the caller's session.
    Jobs use the in-process executor, so a run is one process and starts Spark once.
    """

    master: str = "local[2]"
    remote: str = ""  # Spark Connect URL (sc://host:15002); wins over master
    conf: str = ""  # extra conf, key=value;key=value
    app_name: str = "lakehouse-dagster"
    storage: AzureStorageResource

    _session: SparkSession | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Start Spark with the run, not inside the first asset: its time is not the asset's.
        self._session = self.session()

    def settings(self) -> SparkSettings:
        extra = {**self.storage.spark_conf(), **parse_spark_conf(self.conf)}
        return SparkSettings(master=self.master, remote=self.remote or None, extra_conf=extra)

    def session(self) -> SparkSession:
        if self._session is None:
            self._session = get_spark(self.settings(), app_name=self.app_name)
        return self._session


class LakehouseResource(ConfigurableResource):
    """Where the landing zone and the lakehouse are, and the §4 batch gate threshold.

    It also gathers what the run's steps and checks did (`track`, `tracked`) and, when
    the run's process ends (`teardown_after_execution`: once per run, the job uses the
    in-process executor), appends one row for the whole Dagster run to the run ledger
    `_internal/runs` and alerts, as `lakehouse run` does (pipelines/ledger.py). So runs
    from the schedule, the sensor and UI backfills are in the ledger too.
    """

    landing: str = DEFAULT_LANDING
    root: str = DEFAULT_ROOT
    gate_threshold: float = 0.25
    # GX Data Docs folder; default `<root>/_data_docs` for a local lakehouse, "off" for none.
    data_docs: str = ""

    _outcomes: list[PlanOutcome] = PrivateAttr(default_factory=list)
    _checks: list[CheckResult] = PrivateAttr(default_factory=list)

    @property
    def data_docs_dir(self) -> str | None:
        return data_docs_dir(self.data_docs, self.root)  # as `lakehouse run` decides it

    def track(self, outcome: PlanOutcome) -> PlanOutcome:
        """Remember a step's outcome for the run's ledger row."""
        self._outcomes.append(outcome)
        return outcome

    def tracked(self, result: CheckResult) -> CheckResult:
        """Remember a check's result for the run's ledger row."""
        self._checks.append(result)
        return result

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        run = context.run
        try:
            # Not a lakehouse run (maintenance records itself), or no step ran: no row.
            if run is not None and run.job_name == JOB_NAME and self._outcomes:
                record_dagster_run(
                    self.root, run.run_id, self._outcomes, self._checks, log=context.log
                )
        finally:  # a resource object reused for the next run starts empty, whatever ran
            self._outcomes.clear()
            self._checks.clear()


def default_resources() -> dict[str, ConfigurableResource]:
    """The resources of the code location, from LAKEHOUSE_* / AZURE_* / SPARK_REMOTE."""
    storage = AzureStorageResource(
        connection_string=env_or("AZURE_STORAGE_CONNECTION_STRING", ""),
        account_name=env_or("AZURE_STORAGE_ACCOUNT_NAME", ""),
        tenant_id=env_or("AZURE_TENANT_ID", ""),
        client_id=env_or("AZURE_CLIENT_ID", ""),
        client_secret=env_or("AZURE_CLIENT_SECRET", ""),
        spark_auth=env_or("LAKEHOUSE_ADLS_SPARK_AUTH", ""),
    )
    return {
        "spark": SparkResource(
            master=env_or("LAKEHOUSE_SPARK_MASTER", "local[2]"),
            remote=env_or("SPARK_REMOTE", ""),
            conf=env_or("LAKEHOUSE_SPARK_CONF", ""),
            storage=storage,
        ),
        "lakehouse": LakehouseResource(
            landing=env_or("LAKEHOUSE_LANDING", DEFAULT_LANDING),
            root=env_or("LAKEHOUSE_ROOT", DEFAULT_ROOT),
            # A float field cannot take an EnvVar (strings only); read and check it here.
            gate_threshold=settings().run.gate_threshold,
            data_docs=env_or("LAKEHOUSE_DATA_DOCS", ""),
        ),
        "storage": storage,
    }


def record_dagster_run(
    root: str,
    run_id: str,
    outcomes: list[PlanOutcome],
    checks: list[CheckResult],
    log: Any = None,
) -> None:
    """Append one ledger row for a Dagster run from its steps' outcomes; never raises."""
    from pipelines.ledger import CheckRecord, RunRecord, finish_run

    try:
        session = SparkSession.getActiveSession()
        if session is None:  # no step got as far as Spark: nothing to record with
            return
        merged = PlanOutcome(
            run_id=run_id,
            launcher="dagster",
            dates=sorted({d for o in outcomes for d in o.dates}),
            started_at=min(o.started_at for o in outcomes),
        )
        for outcome in outcomes:
            merged.steps.update(outcome.steps)
            merged.unreadable.update(outcome.unreadable)
            merged.silver = merged.silver or outcome.silver
        record = RunRecord.from_outcome(merged)
        # Dagster runs checks as their own steps, not inside the plan's steps.
        record.checks = [CheckRecord.from_result(c) for c in checks]
        record.status = None  # derived again by finish_run, now with the checks
        finish_run(session, root, record)
    except Exception as failure:  # the ledger must never fail the run it records
        if log is not None:
            log.error(f"could not record run {run_id} in the ledger: {failure}")
