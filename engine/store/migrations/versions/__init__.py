"""Migration scripts, applied in order by labelloop.engine.store.db.migrate()."""
