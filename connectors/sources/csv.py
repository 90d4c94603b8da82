"""CSV (and TSV) reader: streams the file line by line through the stdlib csv parser.

The file is read as bytes and decoded line by line, so one line of invalid UTF-8 quarantines one row instead of
failing the file, and every row keeps the file line where it starts (quoted fields may span lines).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from labelloop.connectors.sources.base import FileReader, RawRow, RowProblem, SourceError

# Texts longer than the csv module's default limit (128 KiB) must reach validation, which quarantines them with a
# clear reason; the parser itself must not stop the file.
csv.field_size_limit(2**31 - 1)


class CsvReader(FileReader):
    format = "csv"

    def __init__(self, path: Path, *, delimiter: str | None = None) -> None:
        super().__init__(path)
        self.delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        self._bad_lines: dict[int, str] = {}
        self._line = 0

    def _decoded_lines(self, fh) -> Iterator[str]:  # type: ignore[no-untyped-def]
        for raw in fh:
            self._line += 1
            self._bytes += len(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                self._bad_lines[self._line] = f"invalid UTF-8 byte 0x{raw[err.start]:02x} at byte {err.start} of line"
                yield raw.decode("utf-8", errors="replace")

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]:
        self._require_file()
        with self.path.open("rb") as fh:
            lines = self._decoded_lines(fh)
            reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
            try:
                header = next(reader)
            except StopIteration:
                raise SourceError(f"{self.path}: empty file (no header row)") from None
            if self._bad_lines:
                raise SourceError(f"{self.path}: header line is not valid UTF-8")
            header = [h.strip().lstrip("\ufeff") for h in header]
            n_cols = len(header)
            chunk: list[RawRow] = []
            prev_end = reader.line_num
            for record in reader:
                start, prev_end = prev_end + 1, reader.line_num
                if not record:  # blank line: not a row
                    continue
                raw = self.delimiter.join(record)
                bad = [self._bad_lines.pop(n) for n in range(start, prev_end + 1) if n in self._bad_lines]
                if bad:
                    chunk.append(RawRow(start, None, raw, RowProblem("invalid_utf8", bad[0])))
                elif len(record) != n_cols:
                    problem = RowProblem("malformed_row", f"expected {n_cols} fields, found {len(record)}")
                    chunk.append(RawRow(start, None, raw, problem))
                else:
                    chunk.append(RawRow(start, dict(zip(header, record, strict=True)), raw))
                if len(chunk) >= chunk_rows:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
