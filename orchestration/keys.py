"""Asset keys, named like the tables' folders under the lakehouse root (`silver/logins`)."""

from __future__ import annotations

from dagster import AssetKey

from schemas.tables import (
    BRONZE_TABLE,
    FEATURES_TABLE,
    GOLD_TABLES,
    QUARANTINE_TABLE,
    SILVER_TABLES,
)


def table_key(relative_path: str) -> AssetKey:
    return AssetKey(relative_path.split("/"))


BRONZE = table_key(BRONZE_TABLE)
QUARANTINE = table_key(QUARANTINE_TABLE)
SILVER = {name: table_key(path) for name, path in SILVER_TABLES.items()}
GOLD = {name: table_key(path) for name, path in GOLD_TABLES.items()}
FEATURES = table_key(FEATURES_TABLE)
ADX_PUBLISH = AssetKey(["adx", "gold"])
