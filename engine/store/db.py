"""Opening a store: SQLAlchemy engine with safe SQLite settings, and schema migration through Alembic.

SQLite (the embedded default) gets WAL journaling, foreign keys, a busy timeout and a 0600 database file; any other
SQLAlchemy URL (PostgreSQL for teams) is used as given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreUnavailable(RuntimeError):
    """The store's database cannot be opened or reached."""


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file (and its folder) private to the user before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    else:
        os.chmod(path, 0o600)


def create_store_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``. For SQLite, ``create=False`` refuses a missing file instead of making one."""
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {}
    if path is not None:
        if not path.exists() and not create:
            raise StoreUnavailable(f"no store at {path}: run `labelloop init` first")
        _prepare_sqlite_file(path)
        kwargs["connect_args"] = {"timeout": 30}
    try:
        engine = create_engine(url, **kwargs)
    except Exception as err:  # a bad URL or a missing driver: one clear message
        raise StoreUnavailable(
            f"cannot open store {make_url(url).render_as_string(hide_password=True)}: {err}"
        ) from err
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # 64 MiB page cache: bulk inserts into the random-keyed identity index stay in memory far longer.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as err:
        raise StoreUnavailable(f"cannot migrate store: {err.orig}") from err
    log.debug("store migrated to revision=%s", revision)
