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


def _reference_csv_rows(data: bytes) -> list[tuple[int, dict | None, str, str | None]]:
    """The stdlib line-by-line reading the CSV reader must reproduce: (line, fields, raw, problem reason)."""
    import csv
    import io

    bad: dict[int, bool] = {}
    counter = {"n": 0}

    def lines():
        for raw in io.BytesIO(data):
            counter["n"] += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad[counter["n"]] = True
                yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(lines(), strict=False)
    header = [h.strip() for h in next(reader)]
    out = []
    prev_end = reader.line_num
    for record in reader:
        start, prev_end = prev_end + 1, reader.line_num
        if not record:
            continue
        raw = ",".join(record)
        if any(n in bad for n in range(start, prev_end + 1)):
            out.append((start, None, raw, "invalid_utf8"))
        elif len(record) != len(header):
            out.append((start, None, raw, "malformed_row"))
        else:
            out.append((start, dict(zip(header, record, strict=True)), raw, None))
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("block_bytes", [7, 64, 1 << 20])
def test_csv_fast_and_slow_paths_give_the_stdlib_rows_and_lines(tmp_path: Path, seed: int, block_bytes: int) -> None:
    """Clean stretches go through pyarrow, the rest line by line; block edges fall anywhere, even inside quotes."""
    import random

    from labelloop.connectors.sources.csv import CsvReader

    rng = random.Random(seed)
    pieces = [
        b"plain text,pos\n",
        b"another one,neg\n",
        b'"quoted, with comma",pos\n',
        b'"multi\nline\nfield",neg\n',
        b"\n",
        b"bad \xff byte,pos\n",
        b"too,many,fields\n",
        b"crlf line,neg\r\n",
        b"  padded  ,pos\n",
        b",neg\n",
        b'"unclosed \n',
        b"caf\xc3\xa9 ok,pos\n",
    ]
    weights = [30, 30, 3, 3, 2, 2, 2, 3, 2, 2, 0 if seed % 4 else 1, 4]
    body = b"".join(rng.choices(pieces, weights=weights, k=rng.randint(1, 60)))
    data = b"id,text,label\n" + b"".join(
        f"{i},".encode() + line if line.strip() else line for i, line in enumerate(body.splitlines(keepends=True))
    )
    if seed % 3 == 0:
        data = data.rstrip(b"\n")  # last line without a line break
    p = tmp_path / "in.csv"
    p.write_bytes(data)
    reader = CsvReader(p, block_bytes=block_bytes)
    got = [
        (r.line, r.fields, r.raw, r.problem.reason if r.problem else None) for chunk in reader.chunks(5) for r in chunk
    ]
    assert got == _reference_csv_rows(data)
    assert reader.bytes_read == len(data)


def test_csv_clean_blocks_come_as_columns_with_counted_lines(tmp_path: Path) -> None:
    from labelloop.connectors.sources import ColumnChunk
    from labelloop.connectors.sources.csv import CsvReader

    p = tmp_path / "in.csv"
    p.write_bytes(b'id,text\n1,a\n2,b\n3,c\n4,"q"\n5,e\n')
    blocks = list(CsvReader(p, block_bytes=12).blocks(10))
    kinds = [(type(b).__name__, b.first_line if isinstance(b, ColumnChunk) else [r.line for r in b]) for b in blocks]
    assert kinds[0] == ("ColumnChunk", 2)
    assert any(k == "list" for k, _ in kinds)  # the block with a quote went line by line
    rows = [r for b in blocks for r in (b.rows() if isinstance(b, ColumnChunk) else b)]
    assert [(r.line, r.fields["text"]) for r in rows] == [(2, "a"), (3, "b"), (4, "c"), (5, "q"), (6, "e")]
