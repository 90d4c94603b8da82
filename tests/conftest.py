"""Session-wide test set-up: offline model hubs, quiet Ray, where the shared datasets live, and the store backends
(``store_url``: SQLite, and PostgreSQL run by scripts/postgres.sh).

The shared datasets sit beside the checkout (``../shared/datasets``); ``LABELLOOP_DATASETS`` overrides that.
They are read in place, never copied.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS_DIR = Path(os.environ.get("LABELLOOP_DATASETS", REPO_ROOT.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared datasets folder; a missing folder is an error, not a skip."""
    if not DATASETS_DIR.is_dir():
        raise RuntimeError(f"shared datasets not found at {DATASETS_DIR} (set LABELLOOP_DATASETS)")
    return DATASETS_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


# -- store backends: SQLite always, PostgreSQL through the project's own script ------------------------------------
PG_SCRIPT = REPO_ROOT / "scripts" / "postgres.sh"
# Tests never test durability: skip fsyncs so 2 cores spend their time on the code under test.
PG_TEST_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def _postgres_required() -> bool:
    """In CI (``CI=true``) and under ``make test`` (``LABELLOOP_REQUIRE_POSTGRES=1``) the PostgreSQL leg must run."""
    return os.environ.get("CI", "").lower() in {"1", "true"} or os.environ.get("LABELLOOP_REQUIRE_POSTGRES") == "1"


class PostgresServer:
    """The server ``scripts/postgres.sh`` runs; hands each test a database of its own."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self._admin = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def create_database(self) -> str:
        from sqlalchemy import text

        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        with self._admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)"))

    def close(self) -> None:
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start (installing if needed) the project's PostgreSQL server; stop it at the end if this session started it.

    Where it cannot start, the PostgreSQL leg is skipped on a developer machine and FAILS in CI.
    """
    script = ["bash", str(PG_SCRIPT)]
    was_running = subprocess.run([*script, "status"], capture_output=True, check=False).returncode == 0
    env = {**os.environ, "LABELLOOP_PG_OPTIONS": PG_TEST_OPTIONS}
    proc = subprocess.run([*script, "start"], capture_output=True, text=True, env=env, check=False, timeout=900)
    if proc.returncode != 0:
        message = f"PostgreSQL did not start (bash {PG_SCRIPT} start, rc={proc.returncode}):\n{proc.stderr[-3000:]}"
        if _postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(proc.stdout.strip().splitlines()[-1])
    try:
        yield server
    finally:
        server.close()
        if not was_running:
            subprocess.run([*script, "stop"], capture_output=True, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for a new, empty store: an SQLite file, then a fresh PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'w' / 'labelloop.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)
