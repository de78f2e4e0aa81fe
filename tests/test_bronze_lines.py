"""Landing files cut into bronze records (transformations/bronze.py), no Delta, no files."""

from __future__ import annotations

from datetime import date

from transformations.bronze import landing_lines

URL = "abfss://landing@acct.dfs.core.windows.net/raw/ingest_date=2026-10-20/part-001.jsonl"


def cut(spark, text: str, url: str = URL) -> list[tuple]:
    files = spark.createDataFrame([(url, text)], "file_path string, value string")
    rows = landing_lines(files).collect()
    return [(r.ingest_date, r.source_file, r.line_number, r.raw) for r in rows]


def test_every_line_break_counts_and_blank_lines_keep_their_numbers(spark):
    text = '{"a":1}\r\n{"a":2}\r{"a":3}\n\n   \t\n\u00a0\u2003\n{"a":4}\n'
    day, name = date(2026, 10, 20), "ingest_date=2026-10-20/part-001.jsonl"
    assert cut(spark, text) == [
        (day, name, 1, '{"a":1}'),
        (day, name, 2, '{"a":2}'),
        (day, name, 3, '{"a":3}'),
        (day, name, 7, '{"a":4}'),  # lines 4-6 are blank (Unicode spaces too); 8 is empty
    ]


def test_lines_are_kept_exactly_as_read(spark):
    text = '  {"a": "x y"}  \n not json at all\t'
    assert [r[3] for r in cut(spark, text)] == ['  {"a": "x y"}  ', " not json at all\t"]


def test_a_local_path_gives_the_same_source_file(spark):
    local = "file:/tmp/landing/ingest_date=2026-10-20/part-001.jsonl"
    assert cut(spark, "x", local)[0][1] == "ingest_date=2026-10-20/part-001.jsonl"
