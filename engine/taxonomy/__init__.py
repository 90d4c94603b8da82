"""Versioned label taxonomy: schemas and migrations, history-aware label reading, guidelines for annotators."""
