"""Run configuration, read once from arguments or the environment (never secrets in code)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs: local by default, a cluster master, or a Spark Connect remote."""

    master: str = "local[2]"
    remote: str | None = None
    extra_conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SparkSettings:
        return cls(
            master=os.environ.get("LAKEHOUSE_SPARK_MASTER") or "local[2]",
            remote=os.environ.get("SPARK_REMOTE") or None,
            extra_conf=parse_spark_conf(os.environ.get("LAKEHOUSE_SPARK_CONF")),
        )


def float_from_env(name: str, default: float, what: str = "a number") -> float:
    """A number from the environment variable `name` (unset or empty: `default`), or a
    one-line UserError naming the variable."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UserError(f"{name} must be {what}, got {raw!r}") from None


def gate_threshold_from_env() -> float:
    value = float_from_env("LAKEHOUSE_GATE_THRESHOLD", DEFAULT_GATE_THRESHOLD)
    if not 0 <= value <= 1:
        raise UserError(f"LAKEHOUSE_GATE_THRESHOLD must be between 0 and 1, got {value}")
    return value
