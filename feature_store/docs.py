"""Markdown docs of the feature registry: `python -m feature_store.docs` writes docs/features.md."""

from __future__ import annotations

import sys
from pathlib import Path

from feature_store.registry import ENTITY, ENTITY_KEY, FEATURES, TABLE, TIME_KEY

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "features.md"

_INTRO = f"""\
# User features

Generated from `feature_store/registry.py` by `python -m feature_store.docs`; do not edit
by hand.

Table `{TABLE}` (Delta, partitioned by `{TIME_KEY}`) holds point-in-time snapshots: one
row per ({ENTITY_KEY}, {TIME_KEY}) for every {ENTITY} with a signup, from the event_date
of the user's first signup (smallest occurred_at, ties: smallest event_id) through the
greatest event_date in any silver table. A snapshot only uses events whose event_date
is on or before its {TIME_KEY}. An *n*-day window is [{TIME_KEY} - (n-1), {TIME_KEY}] by
event_date, and counts are over the user's rows (by {ENTITY_KEY}) in every tenant; a
window without events counts 0 (cost 0.0).

## Training sets

`feature_store.training.get_training_set(spark, labels, features=None, root=None,
features_df=None)` joins labels `({ENTITY_KEY}, label_time, ...)` to the snapshot with
{TIME_KEY} = the UTC date of label_time minus one day, so no event of the label's own
day (or later) can leak into a training row. Labels without such a snapshot (before the
first signup, after the last event date, unknown users) get null features. Bad input
(missing columns, wrong types, unknown feature names) raises `TrainingSetError`.

## Features

| feature | type | window | description | sources |
|---|---|---|---|---|
"""


def render_markdown() -> str:
    """The docs page for every registered feature."""
    rows = [
        f"| `{f.name}` | {f.dtype} | {f.window} | {f.description} | "
        + ", ".join(f"`{s}`" for s in f.sources)
        + " |"
        for f in FEATURES
    ]
    return _INTRO + "\n".join(rows) + "\n"


def write_docs(path: Path = DOCS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(write_docs(Path(args[0]) if args else DOCS_PATH))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
