"""Alembic migrations of the label store."""
