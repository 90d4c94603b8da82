"""Parquet reader: record batches through pyarrow, so only one batch is in memory at a time.

Parquet has no lines; ``RawRow.line`` is the 1-based row number in the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow.parquet as pq

from labelloop.connectors.sources.base import FileReader, RawRow, RowProblem, SourceError


class ParquetReader(FileReader):
    format = "parquet"

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]:
        self._require_file()
        try:
            pf = pq.ParquetFile(self.path)
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise SourceError(f"{self.path}: not a readable Parquet file: {err}") from err
        total_bytes = self.path.stat().st_size
        n_rows = max(pf.metadata.num_rows, 1)
        row = 0
        for batch in pf.iter_batches(batch_size=chunk_rows):
            chunk: list[RawRow] = []
            for rec in batch.to_pylist():
                row += 1
                problem = None
                for key, value in rec.items():
                    if isinstance(value, bytes):
                        try:
                            rec[key] = value.decode("utf-8")
                        except UnicodeDecodeError as err:
                            problem = RowProblem(
                                "invalid_utf8", f"field {key!r}: invalid UTF-8 byte 0x{value[err.start]:02x}"
                            )
                raw = json.dumps(rec, ensure_ascii=False, default=str)
                chunk.append(RawRow(row, None if problem else rec, raw, problem))
            self._bytes = int(total_bytes * row / n_rows)
            yield chunk
