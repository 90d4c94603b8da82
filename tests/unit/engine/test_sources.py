from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.connectors.sources import SourceError, open_source


def _rows(path: Path, fmt: str, chunk_rows: int = 1000) -> list:
    return [r for chunk in open_source(path, fmt).chunks(chunk_rows) for r in chunk]


def test_csv_line_numbers_follow_the_file_through_multiline_fields(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_bytes(b'id,text\n1,one\n2,"two\nlines"\n\n3,three\n')
    rows = _rows(p, "csv")
    assert [(r.line, r.fields["text"]) for r in rows] == [(2, "one"), (3, "two\nlines"), (6, "three")]


def test_csv_invalid_utf8_and_wrong_field_count_become_row_problems(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_bytes(b"id,text\n1,ok\n2,bad \xff byte\n3,too,many\n4,fine\n")
    rows = _rows(p, "csv")
    assert [(r.line, r.problem.reason if r.problem else None) for r in rows] == [
        (2, None),
        (3, "invalid_utf8"),
        (4, "malformed_row"),
        (5, None),
    ]
    assert "0xff" in rows[1].problem.detail
    assert "\ufffd" in rows[1].raw


def test_csv_chunks_bound_the_rows_held(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("id,text\n" + "".join(f"{i},t{i}\n" for i in range(25)))
    sizes = [len(c) for c in open_source(p, "csv").chunks(10)]
    assert sizes == [10, 10, 5]


def test_jsonl_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'{"text": "a"}\n{"text": "b"\n\n[1, 2]\n{"text": "\xc3("}\n{"text": "c"}\n')
    rows = _rows(p, "jsonl")
    assert [(r.line, r.problem.reason if r.problem else None) for r in rows] == [
        (1, None),
        (2, "invalid_json"),
        (4, "invalid_json"),
        (5, "invalid_utf8"),
        (6, None),
    ]
    assert "expected a JSON object" in rows[2].problem.detail


def test_parquet_reads_in_batches_with_row_numbers(tmp_path: Path) -> None:
    p = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(7)], "text": [f"text {i}" for i in range(7)]}), p)
    chunks = list(open_source(p, "parquet").chunks(3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [r.line for c in chunks for r in c] == list(range(1, 8))
    assert chunks[2][0].fields == {"id": "r6", "text": "text 6"}


def test_missing_file_and_empty_csv_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        _rows(tmp_path / "nope.csv", "csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceError, match="empty file"):
        _rows(empty, "csv")
    with pytest.raises(SourceError, match="unknown source format 'xml'"):
        open_source(empty, "xml")
