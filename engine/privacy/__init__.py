"""engine/privacy."""
