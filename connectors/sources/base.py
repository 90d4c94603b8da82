"""What every source reader yields: raw rows with their line numbers, or the parse problem that stopped a row.

Readers never drop a row: a row they cannot parse is yielded with ``problem`` set, so the ingest can quarantine it
with its line number and an excerpt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row could not be parsed. ``reason`` is a short code (e.g. ``invalid_utf8``), ``detail`` for humans."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class RawRow:
    """One input row. ``line`` is 1-based: the file line where the row starts (CSV, JSONL) or the row number
    (Parquet). ``fields`` is None exactly when ``problem`` is set; ``raw`` is the row's text as read (invalid bytes
    replaced), used for quarantine excerpts."""

    line: int
    fields: dict[str, Any] | None
    raw: str
    problem: RowProblem | None = None


@dataclass(frozen=True)
class ColumnChunk:
    """Consecutive rows that parsed cleanly, as Arrow string columns: row ``i`` starts on file line
    ``first_line + i`` (one row per line, no blank lines between). Readers yield these where they can prove that
    layout, so the ingest can validate and hash a whole block without building a Python object per row."""

    first_line: int
    batch: pa.RecordBatch
    delimiter: str = ","

    def __len__(self) -> int:
        return self.batch.num_rows

    def rows(self) -> list[RawRow]:
        """The same rows one by one, exactly as the line-by-line path would have produced them."""
        names = self.batch.schema.names
        columns = [c.to_pylist() for c in self.batch.columns]
        join = self.delimiter.join
        return [
            RawRow(self.first_line + i, dict(zip(names, values, strict=True)), join(values))
            for i, values in enumerate(zip(*columns, strict=True))
        ]


Block = list[RawRow] | ColumnChunk


class SourceReader(Protocol):
    """Reads one file in chunks of rows so memory stays bounded whatever the file's size."""

    path: Path
    format: str

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]: ...

    def blocks(self, chunk_rows: int) -> Iterator[Block]:
        """Like :meth:`chunks`, but clean stretches of the file may come as :class:`ColumnChunk` (at most
        ``chunk_rows`` rows each)."""
        ...

    @property
    def bytes_read(self) -> int:
        """Bytes consumed so far (for progress bars)."""
        ...


class SourceError(ValueError):
    """The source as a whole is unusable (missing file, missing header column): nothing was ingested."""


class FileReader:
    """What every reader shares: its path, a byte counter for progress bars, and the missing-file check."""

    format = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._bytes = 0

    @property
    def bytes_read(self) -> int:
        return self._bytes

    def _require_file(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"source file not found: {self.path}")

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]:
        raise NotImplementedError

    def blocks(self, chunk_rows: int) -> Iterator[Block]:
        """Row-by-row readers have no columnar fast path: their blocks are their chunks."""
        yield from self.chunks(chunk_rows)


def rechunk(blocks: Iterator[Block], chunk_rows: int) -> Iterator[list[RawRow]]:
    """Blocks as row lists of exactly ``chunk_rows`` rows (the last one shorter)."""
    chunk: list[RawRow] = []
    for block in blocks:
        chunk.extend(block.rows() if isinstance(block, ColumnChunk) else block)
        while len(chunk) >= chunk_rows:
            yield chunk[:chunk_rows]
            chunk = chunk[chunk_rows:]
    if chunk:
        yield chunk


def excerpt(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
