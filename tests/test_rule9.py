"""Rule 9 as pure functions (transformations/silver.py): which copy wins, which go to
quarantine as duplicates, which ids leave a table, and when a run's rows are all new to
silver (pipelines/silver.py); in-memory rows, no Delta."""

from __future__ import annotations

from datetime import date

from pyspark.sql import functions as F

from pipelines.silver import adds_rows_only
from transformations.silver import duplicate_rows, mark_winners, stale_ids, touched_events

D1, D2 = date(2026, 10, 20), date(2026, 10, 21)
COLUMNS = "event_id string, event_type string, event_date date, ingest_date date, "
COLUMNS += "source_file string, line_number long"


def copies(spark, rows: list[tuple]):
    return spark.createDataFrame(rows, COLUMNS)


def winners_of(df) -> dict[str, tuple]:
    rows = mark_winners(df).where("is_winner").collect()
    return {r.event_id: (r.ingest_date, r.source_file, r.line_number) for r in rows}


def test_the_earliest_ingest_date_then_file_then_line_wins(spark):
    df = copies(
        spark,
        [
            ("e1", "login", D1, D2, "ingest_date=2026-10-21/a.jsonl", 1),
            ("e1", "login", D1, D1, "ingest_date=2026-10-20/b.jsonl", 9),  # earlier date
            ("e2", "login", D1, D1, "ingest_date=2026-10-20/b.jsonl", 2),
            ("e2", "login", D1, D1, "ingest_date=2026-10-20/a.jsonl", 5),  # first file
            ("e3", "login", D1, D1, "ingest_date=2026-10-20/a.jsonl", 7),
            ("e3", "login", D1, D1, "ingest_date=2026-10-20/a.jsonl", 3),  # first line
        ],
    )
    assert winners_of(df) == {
        "e1": (D1, "ingest_date=2026-10-20/b.jsonl", 9),
        "e2": (D1, "ingest_date=2026-10-20/a.jsonl", 5),
        "e3": (D1, "ingest_date=2026-10-20/a.jsonl", 3),
    }
    # The same winners whatever order the rows come in.
    assert winners_of(df.orderBy(F.rand(seed=1))) == winners_of(df)


def test_losing_copies_become_duplicates_with_their_raw_line(spark):
    df = copies(
        spark,
        [
            ("e1", "login", D1, D1, "ingest_date=2026-10-20/a.jsonl", 1),
            ("e1", "login", D1, D2, "ingest_date=2026-10-21/a.jsonl", 4),
        ],
    )
    bronze = spark.createDataFrame(
        [
            (D1, "ingest_date=2026-10-20/a.jsonl", 1, "first"),
            (D2, "ingest_date=2026-10-21/a.jsonl", 4, "second"),
        ],
        "ingest_date date, source_file string, line_number long, raw string",
    )
    (row,) = duplicate_rows(mark_winners(df), bronze).collect()
    assert (row.event_id, row.ingest_date, row.line_number, row.raw) == ("e1", D2, 4, "second")
    assert row.reason == "duplicate"


def test_an_id_that_now_wins_as_another_type_leaves_its_old_table(spark):
    # e1's winning copy is now a signup; its older typed copy was a login.
    typed = spark.createDataFrame(
        [("e1", "login"), ("e1", "signup"), ("e2", "login")], "event_id string, event_type string"
    )
    winners = spark.createDataFrame(
        [("e1", "signup"), ("e2", "login")], "event_id string, event_type string"
    )
    assert [r.event_id for r in stale_ids(typed, winners, "login").collect()] == ["e1"]
    assert stale_ids(typed, winners, "signup").count() == 0


def test_touched_ids_include_copies_that_disappeared(spark):
    now = copies(spark, [("e1", "login", D1, D1, "f", 1)])
    before = copies(spark, [("e1", "login", D1, D1, "f", 1), ("e2", "login", D1, D1, "f", 2)])
    other_day = copies(spark, [("e3", "login", D2, D2, "g", 1)])
    touched = touched_events(now.unionByName(other_day), before, [D1])
    assert sorted(r.event_id for r in touched.collect()) == ["e1", "e2"]


def test_a_run_only_adds_rows_when_its_dates_are_new_and_its_copies_beat_none_stored(spark):
    nothing_before = copies(spark, [])
    fresh = mark_winners(copies(spark, [("e1", "login", D1, D2, "g", 1)]))
    assert adds_rows_only(nothing_before, fresh, [D2])
    # The date was validated before (a re-run): its rows may be in silver and quarantine.
    before = copies(spark, [("e1", "login", D1, D2, "g", 1)])
    assert not adds_rows_only(before, fresh, [D2])
    # A redelivery: e1's copy on D2 loses to the one kept from D1, whose rows stay.
    redelivered = mark_winners(
        copies(spark, [("e1", "login", D1, D1, "f", 3), ("e1", "login", D1, D2, "g", 1)])
    )
    assert adds_rows_only(nothing_before, redelivered, [D2])
    # A backfill: D1's copy now beats the one kept from D2, so silver's row changes.
    assert not adds_rows_only(nothing_before, redelivered, [D1])
    assert adds_rows_only(nothing_before, redelivered, [D1, D2])
