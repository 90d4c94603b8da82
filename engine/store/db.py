"""Opening a store: SQLAlchemy engine with safe SQLite settings, and schema migration through Alembic.

SQLite (the embedded default) gets WAL journaling, foreign keys, a busy timeout and a 0600 database file; any other
SQLAlchemy URL (PostgreSQL for teams) is used as given.

The busy timeout is how long a write waits for another connection's write lock before it fails with "database is
locked" (the cycle then exits 4, naming the store): the config's ``store.busy_timeout_s``, else
``LABELLOOP_SQLITE_BUSY_TIMEOUT_S`` seconds, else 30 s.
"""

from __future__ import annotations

import logging
import os
import sqlite3
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


BUSY_TIMEOUT_ENV = "LABELLOOP_SQLITE_BUSY_TIMEOUT_S"
DEFAULT_BUSY_TIMEOUT_S = 30.0


class StoreUnavailable(RuntimeError):
    """The store's database cannot be opened or reached."""


def sqlite_busy_timeout_s() -> float:
    """Seconds an SQLite write waits on another connection's lock: ``LABELLOOP_SQLITE_BUSY_TIMEOUT_S`` or 30."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        from labelloop.engine.config import ConfigError

        raise ConfigError(f"{BUSY_TIMEOUT_ENV}: expected seconds between 0 and 3600, got {raw!r}")
    return value


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


def create_store_engine(url: str, *, create: bool = True, busy_timeout_s: float | None = None) -> Engine:
    """An engine for ``url``. For SQLite, ``create=False`` refuses a missing file instead of making one;
    ``busy_timeout_s`` (None: the environment's or 30 s) is how long a write waits for another one's lock."""
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {}
    busy_s = sqlite_busy_timeout_s() if busy_timeout_s is None else busy_timeout_s
    if path is not None:
        if not path.exists() and not create:
            raise StoreUnavailable(f"no store at {path}: run `labelloop init` first")
        _prepare_sqlite_file(path)
        kwargs["connect_args"] = {"timeout": busy_s}
    try:
        engine = create_engine(url, **kwargs)
    except Exception as err:  # a bad URL or a missing driver: one clear message
        raise StoreUnavailable(
            f"cannot open store {make_url(url).render_as_string(hide_password=True)}: {err}"
        ) from err
    if engine.dialect.name == "sqlite":
        busy_ms = int(busy_s * 1000)
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, busy_ms=busy_ms))
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, busy_ms: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={busy_ms:d}")  # first: switching to WAL needs a lock too
    cur.execute("PRAGMA foreign_keys=ON")
    # 16 KiB pages for a new store (an existing one keeps its size): a bulk ingest of 1M rows measured about a
    # fifth less CPU than with 4 KiB pages (fewer B-tree pages and WAL frames; bench/ingest.md). Must come before
    # the switch to WAL, which fixes the page size.
    cur.execute("PRAGMA page_size=16384")
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as err:
        # A bulk import holds the store in the rollback journal while it writes (BulkImport): switching to WAL then
        # fails at once ("database is locked", no busy wait). This connection reads and writes in the rollback
        # journal meanwhile (readers still read during the import) and follows the file back to WAL, which SQLite
        # checks at every transaction, once the import switches back.
        if "locked" not in str(err) and "busy" not in str(err):
            raise
        log.debug("store busy: this connection starts in the file's current journal mode (%s)", err)
    cur.execute("PRAGMA synchronous=NORMAL")
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
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:
                # SQLite rebuilds a table to drop a constraint (copy, drop, rename); with foreign keys enforced, the
                # drop of a table other tables point at fails. SQLite's own recipe: enforcement off (outside any
                # transaction), migrate, check every key, enforcement back on.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                        raise RuntimeError(f"migration to {revision} left broken foreign keys: {broken[:5]}")
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    except OperationalError as err:
        raise StoreUnavailable(f"cannot migrate store: {err.orig}") from err
    log.debug("store migrated to revision=%s", revision)
