"""The label store: SQLAlchemy models, Alembic migrations and :class:`Store`, the only code that writes SQL."""

from labelloop.engine.store.db import StoreUnavailable
from labelloop.engine.store.repository import Store, StoreCounts

__all__ = ["Store", "StoreCounts", "StoreUnavailable"]
