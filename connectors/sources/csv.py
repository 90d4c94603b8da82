"""CSV (and TSV) reader: clean stretches of the file through pyarrow's CSV parser, the rest line by line through
the stdlib csv parser, with the same rows and line numbers either way.

The file is read as bytes in blocks that end on a line break. A block without a quote character, blank line, bare
carriage return or NUL byte holds exactly one row per line, so its line numbers can be counted instead of tracked;
pyarrow parses it into string columns (:class:`ColumnChunk`). If pyarrow refuses the block (invalid UTF-8, a wrong
field count) or its row count is not the block's line count, the block goes the slow way.

The slow way decodes line by line, so one line of invalid UTF-8 quarantines one row instead of failing the file,
and every row keeps the file line where it starts (quoted fields may span lines, also past the end of the block).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from labelloop.connectors.sources.base import Block, ColumnChunk, FileReader, RawRow, RowProblem, SourceError, rechunk

# Texts longer than the csv module's default limit (128 KiB) must reach validation, which quarantines them with a
# clear reason; the parser itself must not stop the file.
csv.field_size_limit(2**31 - 1)

BLOCK_BYTES = 4 << 20  # bytes per block: bounds memory (a block and its columns), amortises pyarrow's per-call cost


class _ByteLines:
    """The open file as whole lines: ~``size``-byte blocks for the fast path, single lines for the stdlib parser."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._buf = b""
        self._eof = False

    def _read(self, n: int) -> None:
        data = self._fh.read(n)
        if data:
            self._buf += data
        else:
            self._eof = True

    def _take(self, end: int) -> bytes:
        out, self._buf = self._buf[:end], self._buf[end:]
        return out

    def block(self, size: int) -> bytes:
        """The next whole lines, about ``size`` bytes (more if one line is longer); ``b""`` at the end."""
        while not self._eof and len(self._buf) < size:
            self._read(size)
        cut = self._buf.rfind(b"\n", 0, size) + 1 or self._buf.find(b"\n", size) + 1
        while cut == 0 and not self._eof:  # one line longer than a block
            start = len(self._buf)
            self._read(size)
            cut = self._buf.find(b"\n", start) + 1
        return self._take(cut or len(self._buf))

    def readline(self) -> bytes:
        i = self._buf.find(b"\n")
        while i < 0 and not self._eof:
            start = len(self._buf)
            self._read(1 << 16)
            i = self._buf.find(b"\n", start)
        return self._take(len(self._buf) if i < 0 else i + 1)


def _one_row_per_line(block: bytes) -> bool:
    """True when no CSV construct can make a row span lines or a line not be a row (checked with C byte scans)."""
    if b'"' in block or b"\x00" in block or b"\n\n" in block or b"\n\r\n" in block:
        return False
    if block.startswith((b"\n", b"\r\n")):
        return False
    return b"\r" not in block or block.count(b"\r") == block.count(b"\r\n")


class CsvReader(FileReader):
    format = "csv"

    def __init__(self, path: Path, *, delimiter: str | None = None, block_bytes: int = BLOCK_BYTES) -> None:
        super().__init__(path)
        self.delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        self.block_bytes = block_bytes
        self._bad_lines: dict[int, str] = {}
        self._line = 0  # file lines consumed so far

    def _decode(self, raw: bytes) -> str:
        self._line += 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            self._bad_lines[self._line] = f"invalid UTF-8 byte 0x{raw[err.start]:02x} at byte {err.start} of line"
            return raw.decode("utf-8", errors="replace")

    def _following_lines(self, src: _ByteLines) -> Iterator[str]:
        while raw := src.readline():
            self._bytes += len(raw)
            yield self._decode(raw)

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]:
        return rechunk(self.blocks(chunk_rows), chunk_rows)

    def blocks(self, chunk_rows: int) -> Iterator[Block]:
        self._require_file()
        with self.path.open("rb") as fh:
            src = _ByteLines(fh)
            try:
                header = next(csv.reader(self._following_lines(src), delimiter=self.delimiter, strict=False))
            except StopIteration:
                raise SourceError(f"{self.path}: empty file (no header row)") from None
            if self._bad_lines:
                raise SourceError(f"{self.path}: header line is not valid UTF-8")
            header = [h.strip().lstrip("\ufeff") for h in header]
            fast_ok = len(set(header)) == len(header) and len(header) > 0
            pending: list[RawRow] = []
            while block := src.block(self.block_bytes):
                self._bytes += len(block)
                table = self._parse_fast(block, header) if fast_ok else None
                if table is None:
                    for row in self._slow_rows(block, src, header):
                        pending.append(row)
                        if len(pending) >= chunk_rows:
                            yield pending
                            pending = []
                    continue
                if pending:
                    yield pending
                    pending = []
                first = self._line + 1
                self._line += table.num_rows
                offset = 0
                for batch in table.to_batches():
                    for start in range(0, batch.num_rows, chunk_rows):
                        part = batch.slice(start, chunk_rows)
                        yield ColumnChunk(first + offset + start, part, self.delimiter)
                    offset += batch.num_rows
            if pending:
                yield pending

    def _parse_fast(self, block: bytes, header: list[str]) -> pa.Table | None:
        if not _one_row_per_line(block):
            return None
        try:
            table = pacsv.read_csv(
                pa.py_buffer(block),
                read_options=pacsv.ReadOptions(column_names=header, use_threads=False, block_size=len(block) + 1),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, quote_char=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header}, strings_can_be_null=False, check_utf8=True
                ),
            )
        except pa.ArrowException:  # invalid UTF-8, wrong field count: the slow path says which row and why
            return None
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        return table if table.num_rows == lines else None

    def _slow_rows(self, block: bytes, src: _ByteLines, header: list[str]) -> Iterator[RawRow]:
        """Rows of ``block`` through the stdlib parser; a quoted field still open at its end reads on in ``src``."""
        parts = block.split(b"\n")
        tail = parts.pop()
        raw_lines = [p + b"\n" for p in parts]
        if tail:
            raw_lines.append(tail)
        block_end = self._line + len(raw_lines)

        def lines() -> Iterator[str]:
            for raw in raw_lines:
                yield self._decode(raw)
            yield from self._following_lines(src)

        n_cols = len(header)
        reader = csv.reader(lines(), delimiter=self.delimiter, strict=False)
        prev_end = self._line
        for record in reader:
            start, prev_end = prev_end + 1, self._line
            if record:  # a blank line is not a row
                raw = self.delimiter.join(record)
                bad = [self._bad_lines.pop(n) for n in range(start, prev_end + 1) if n in self._bad_lines]
                if bad:
                    yield RawRow(start, None, raw, RowProblem("invalid_utf8", bad[0]))
                elif len(record) != n_cols:
                    problem = RowProblem("malformed_row", f"expected {n_cols} fields, found {len(record)}")
                    yield RawRow(start, None, raw, problem)
                else:
                    yield RawRow(start, dict(zip(header, record, strict=True)), raw)
            if self._line >= block_end:
                return
