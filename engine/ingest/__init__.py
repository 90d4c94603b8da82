"""engine/ingest."""
