"""The built-in exporters: JSON Lines, CSV, Parquet and a Hugging Face ``datasets`` folder.

Each writes the same columns. Timestamps are UTC: ISO 8601 strings in JSONL and CSV, ``timestamp[us, UTC]`` in
Parquet and the Hugging Face folder; missing values are JSON ``null``, an empty CSV field, or Arrow nulls.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from labelloop.connectors.exports.registry import register


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@register("jsonl")
class JsonlExporter:
    """One JSON object per line, keys in column order; UTF-8, non-ASCII kept as is."""

    name: ClassVar[str]
    writes_folder: ClassVar[bool] = False

    def write(self, table: pa.Table, path: Path, *, fingerprint: str) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for batch in table.to_batches(max_chunksize=10_000):
                for row in batch.to_pylist():
                    fh.write(json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n")


@register("csv")
class CsvExporter:
    """RFC 4180 CSV with a header; texts with commas, quotes or newlines are quoted."""

    name: ClassVar[str]
    writes_folder: ClassVar[bool] = False

    def write(self, table: pa.Table, path: Path, *, fingerprint: str) -> None:
        # Timestamps as ISO 8601 strings ("2026-01-02T03:04:05.000006+00:00"), as in JSONL, not Arrow's own form.
        cols = [
            pa.array([_json_value(v) for v in col.to_pylist()], pa.string()) if pa.types.is_timestamp(col.type) else col
            for col in table.columns
        ]
        pa_csv.write_csv(pa.table(cols, names=table.column_names), path)


@register("parquet")
class ParquetExporter:
    """One Parquet file (zstd), the Arrow schema kept."""

    name: ClassVar[str]
    writes_folder: ClassVar[bool] = False

    def write(self, table: pa.Table, path: Path, *, fingerprint: str) -> None:
        pq.write_table(table, path, compression="zstd")


@register("hf")
class HuggingFaceExporter:
    """A folder written by ``datasets.Dataset.save_to_disk``; read it with ``datasets.load_from_disk``."""

    name: ClassVar[str]
    writes_folder: ClassVar[bool] = True

    def write(self, table: pa.Table, path: Path, *, fingerprint: str) -> None:
        import datasets
        from datasets.table import InMemoryTable
        from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        # A fixed fingerprint instead of a random one, so state.json (and the export's sha256) is reproducible.
        ds = datasets.Dataset(InMemoryTable(table), fingerprint=fingerprint)
        quiet = are_progress_bars_disabled()
        disable_progress_bars()
        try:
            ds.save_to_disk(str(path))
        finally:
            if not quiet:
                enable_progress_bars()
