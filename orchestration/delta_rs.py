"""Read a Delta table with delta-rs (the `deltalake` package), without Spark.

`DeltaTable.to_pyarrow_table()` scans through a pyarrow dataset whose C++ threads can
outlive Python's shutdown: measured here, a script that only called it exited with
SIGABRT ("terminate called without an active exception") in 7 of 10 runs, on every
deltalake 1.1–1.6 and pyarrow 21–23 tried (apache/arrow#34314, delta-rs#2184). Reading
through delta-rs' own query engine (DataFusion) exited cleanly in 60 of 60 runs, so every
reader in this project (the sensor, the tests) goes through here.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder


def read_table(
    path: str,
    columns: list[str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> pa.Table:
    """The table's current version as a pyarrow Table (all columns unless named)."""
    table = DeltaTable(path, storage_options=storage_options)
    selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    reader = QueryBuilder().register("t", table).execute(f"SELECT {selected} FROM t")
    result = pa.table(reader.read_all())
    # DataFusion hands strings back as string_view; give readers the table's own types.
    declared = pa.schema(table.schema().to_arrow())
    return result.cast(pa.schema([declared.field(name) for name in result.column_names]))
