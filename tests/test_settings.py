"""The one settings module (pipelines/config.py): typed, read on demand, secrets hidden."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pipelines.config as config
from pipelines.config import UserError, settings

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = r"LAKEHOUSE_[A-Z][A-Z_]*[A-Z](?![A-Z_])"  # not a prefix such as LAKEHOUSE_ADX_


def test_every_lakehouse_variable_the_code_names_is_declared_there() -> None:
    named = set()
    for package in ("pipelines", "orchestration", "entrypoints"):
        for path in (ROOT / package).rglob("*.py"):
            named |= set(re.findall(VARIABLE, path.read_text()))
    declared = set(re.findall(VARIABLE, config.__doc__ or ""))
    assert named - declared == set()


def test_values_are_read_when_asked_for_and_empty_is_unset(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_LEASE_SECONDS", "5")
    monkeypatch.setenv("LAKEHOUSE_LOCK_WAIT_SECONDS", "")
    lease = settings().lease
    assert (lease.lease_seconds, lease.lock_wait_seconds) == (5.0, 3 * 3600.0)
    monkeypatch.setenv("LAKEHOUSE_LEASE_SECONDS", "7")
    assert settings().lease.lease_seconds == 7.0


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("LAKEHOUSE_LEASE_SECONDS", "soon", "LAKEHOUSE_LEASE_SECONDS must be a number, got 'soon'"),
        (
            "LAKEHOUSE_MAINTENANCE_RETENTION_HOURS",
            "a week",
            "LAKEHOUSE_MAINTENANCE_RETENTION_HOURS must be a number of hours, got 'a week'",
        ),
        ("LAKEHOUSE_GATE_THRESHOLD", "1.5", "LAKEHOUSE_GATE_THRESHOLD must be between 0 and 1"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(monkeypatch, name, value, message) -> None:
    monkeypatch.setenv(name, value)
    group = {"LEASE": "lease", "MAINTENANCE": "maintenance", "GATE": "run"}[name.split("_")[1]]
    with pytest.raises(UserError, match=re.escape(message)):
        getattr(settings(), group)


def test_secrets_never_print(monkeypatch) -> None:
    secrets = {
        "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=k3y",
        "AZURE_CLIENT_SECRET": "s3cr3t",
        "LAKEHOUSE_ALERT_WEBHOOK_URL": "https://hooks.example.com/T0/B0/t0ken",
        "LAKEHOUSE_ERASURE_SALT": "pepper",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    current = settings()
    shown = " ".join(repr(g) for g in (current.azure, current.alerts, current.erasure))
    assert not any(value in shown for value in secrets.values())
    assert current.azure.connection_string == secrets["AZURE_STORAGE_CONNECTION_STRING"]
    assert current.erasure.salt.get_secret_value() == "pepper"
