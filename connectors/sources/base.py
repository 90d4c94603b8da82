"""What every source reader yields: raw rows with their line numbers, or the parse problem that stopped a row.

Readers never drop a row: a row they cannot parse is yielded with ``problem`` set, so the ingest can quarantine it
with its line number and an excerpt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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


class SourceReader(Protocol):
    """Reads one file in chunks of rows so memory stays bounded whatever the file's size."""

    path: Path
    format: str

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]: ...

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


def excerpt(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
