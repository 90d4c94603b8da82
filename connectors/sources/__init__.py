"""connectors/sources."""
