"""Source readers by format: ``open_source(path, fmt)`` returns a reader that yields chunks of :class:`RawRow`."""

from __future__ import annotations

from pathlib import Path

from labelloop.connectors.sources.base import (
    Block,
    ColumnChunk,
    RawRow,
    RowProblem,
    SourceError,
    SourceReader,
    excerpt,
)
from labelloop.connectors.sources.csv import CsvReader
from labelloop.connectors.sources.jsonl import JsonlReader
from labelloop.connectors.sources.parquet import ParquetReader

READERS: dict[str, type] = {"csv": CsvReader, "jsonl": JsonlReader, "parquet": ParquetReader}

__all__ = [
    "READERS",
    "Block",
    "ColumnChunk",
    "RawRow",
    "RowProblem",
    "SourceError",
    "SourceReader",
    "excerpt",
    "open_source",
]


def open_source(path: Path, fmt: str) -> SourceReader:
    try:
        reader_cls = READERS[fmt]
    except KeyError:
        raise SourceError(f"unknown source format {fmt!r}; known: {', '.join(sorted(READERS))}") from None
    return reader_cls(path)  # type: ignore[no-any-return]
