"""Ingest: read sources in chunks, validate, deduplicate, redact PII, write items, quarantine bad rows."""

from labelloop.engine.ingest.pipeline import IngestSummary, ingest_source
from labelloop.engine.ingest.redaction import NoRedaction, TextRedactor, open_redactor

__all__ = ["IngestSummary", "NoRedaction", "TextRedactor", "ingest_source", "open_redactor"]
