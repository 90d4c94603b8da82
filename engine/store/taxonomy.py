"""SQL for taxonomy versions (kept apart from the repository module; same engine, same rules: append-only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from labelloop.engine.store.models import TaxonomyVersion
from labelloop.engine.store.repository import Store, as_utc


def taxonomy_versions(store: Store) -> list[dict[str, Any]]:
    """Every recorded taxonomy version, oldest first (``seq`` order), with UTC ``created_at``."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(TaxonomyVersion).order_by(TaxonomyVersion.seq)).mappings().all()
    return [{**dict(r), "created_at": as_utc(r["created_at"])} for r in rows]


def add_taxonomy_version(store: Store, row: dict[str, Any]) -> bool:
    """Append a version after the newest one (``seq`` is assigned here); an id already recorded is a no-op."""
    with store.engine.begin() as conn:
        if conn.execute(select(TaxonomyVersion.id).where(TaxonomyVersion.id == row["id"])).first():
            return False
        top = conn.execute(select(func.coalesce(func.max(TaxonomyVersion.seq), -1))).scalar_one()
        conn.execute(TaxonomyVersion.__table__.insert().values(**row, seq=int(top) + 1))
    return True
