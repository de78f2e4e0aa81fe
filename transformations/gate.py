"""The §4 batch gate of one ingest date: `GateOutcome`, the one type every layer shares.

Silver decides it (`from_counts`), the ingest log and the run ledger store it (the
`gates` struct of `_internal/runs`: `as_row` / `from_row`), alerts, `lakehouse status`,
the command line and Dagster metadata show it (`as_dict`). Pure data: no Spark, no I/O.

`top_reasons` is kept as the text the tables store ("invalid_json 30, bad_timestamp 22"),
so an outcome read back from a table is the same object as the one silver made;
`failed_share` is derived from the counts, never stored apart from them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

TOP_REASONS = 3
# The fields of one stored gate, in their column order (schemas.tables: RUNS "gates").
ROW_FIELDS = ("ingest_date", "records", "failed", "failed_share", "gate_passed", "top_reasons")


@dataclass(frozen=True)
class GateOutcome:
    ingest_date: date
    records: int
    failed: int  # records failing rules 1-8
    gate_passed: bool
    top_reasons: str = ""  # "reason count, ..." (most frequent first), or why it was held

    @property
    def failed_share(self) -> float:
        return self.failed / self.records if self.records else 0.0

    @classmethod
    def from_counts(
        cls, ingest_date: date, counts: Mapping[str | None, int], threshold: float
    ) -> GateOutcome:
        """The gate from record counts per reason (None: valid): a failing share above
        `threshold` fails the date."""
        records = sum(counts.values())
        reasons = Counter({r: n for r, n in counts.items() if r is not None})
        failed = sum(reasons.values())
        top = ", ".join(f"{r} {n}" for r, n in reasons.most_common(TOP_REASONS))
        share = failed / records if records else 0.0
        return cls(ingest_date, records, failed, share <= threshold, top)

    @classmethod
    def unreadable(cls, ingest_date: date, files: Iterable[str]) -> GateOutcome:
        """A date held back because landing files could not be read (the files are its reason)."""
        return cls(ingest_date, 0, 0, False, f"unreadable: {', '.join(files)}")

    def as_dict(self) -> dict:
        """The shape checks, Dagster metadata, the run ledger and alerts show."""
        return {
            "records": self.records,
            "failed_rules_1_8": self.failed,
            "failed_share": round(self.failed_share, 4),
            "gate_passed": self.gate_passed,
            "top_reasons": self.top_reasons,
        }

    def as_row(self) -> tuple:
        """The stored struct, in `ROW_FIELDS` order."""
        return (
            self.ingest_date,
            int(self.records),
            int(self.failed),
            float(self.failed_share),
            bool(self.gate_passed),
            self.top_reasons,
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> GateOutcome:
        """From a stored row or struct with `ROW_FIELDS` (its failed_share is derived again)."""
        return cls(
            row["ingest_date"],
            int(row["records"] or 0),
            int(row["failed"] or 0),
            bool(row["gate_passed"]),
            row["top_reasons"] or "",
        )
