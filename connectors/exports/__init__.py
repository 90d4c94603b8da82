"""Exports of dataset versions (JSONL, CSV, Parquet, a Hugging Face ``datasets`` folder) with per-label provenance.

``export_dataset_version(store, workdir, "ds-...", "parquet", "out.parquet")``; formats are registered by name in
:mod:`labelloop.connectors.exports.registry`.
"""

from labelloop.connectors.exports.dataset import (
    PROVENANCE_COLUMNS,
    SCHEMA,
    ExportBlocked,
    ExportResult,
    dataset_table,
    export_dataset_version,
    label_provenance,
    sidecar_path,
)
from labelloop.connectors.exports.registry import (
    UnknownExporterError,
    available_exporters,
    get_exporter,
    register,
)

__all__ = [
    "PROVENANCE_COLUMNS",
    "SCHEMA",
    "ExportBlocked",
    "ExportResult",
    "UnknownExporterError",
    "available_exporters",
    "dataset_table",
    "export_dataset_version",
    "get_exporter",
    "label_provenance",
    "register",
    "sidecar_path",
]
