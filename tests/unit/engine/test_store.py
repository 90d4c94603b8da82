"""The store on every backend (``store_url``: SQLite, then PostgreSQL started by scripts/postgres.sh)."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from labelloop.engine.store import Store, StoreUnavailable
from labelloop.engine.store.db import current_revision, head_revision


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.create(store_url)
    yield s
    s.close()


H1 = hashlib.sha256(b"h1").hexdigest()  # an identity hash is hex: its first 64 bits are the store key


def _one_item(store: Store) -> int:
    run = store.start_ingest_run("t.csv", "csv", None)
    ids = store.add_items(
        [
            {
                "identity_hash": H1,
                "content_hash": "c1",
                "text": "hello",
                "source": "t.csv",
                "source_line": 2,
                "ingest_run_id": run,
            }
        ]
    )
    return ids[H1]


def test_schema_is_migrated_to_head_and_create_is_idempotent(store_url: str) -> None:
    s1 = Store.create(store_url)
    assert current_revision(s1.engine) == head_revision()
    item = _one_item(s1)
    s1.close()
    s2 = Store.create(store_url)  # second create migrates nothing and keeps data
    assert current_revision(s2.engine) == head_revision()
    assert [i["id"] for i in s2.items()] == [item]
    s2.close()
    Store.open(store_url).close()


def test_store_file_is_private(tmp_path: Path) -> None:
    db = tmp_path / "w" / "labelloop.db"
    Store.create(f"sqlite:///{db}").close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_open_refuses_a_missing_store(store_url: str) -> None:
    # SQLite: no file yet; PostgreSQL: an empty database without the labelloop schema.
    with pytest.raises(StoreUnavailable, match="run `labelloop init` first"):
        Store.open(store_url)


def test_label_events_are_append_only_in_the_api(store: Store) -> None:
    public = {name for name in dir(store) if not name.startswith("_")}
    assert "append_label_events" in public
    assert not [n for n in public if "label_event" in n and any(w in n for w in ("update", "delete", "remove", "set"))]


@pytest.mark.parametrize(
    "sql",
    ["UPDATE label_events SET label = 'b'", "DELETE FROM label_events", "UPDATE label_events SET annotator = NULL"],
)
def test_database_refuses_update_and_delete_on_label_events(store: Store, sql: str) -> None:
    item = _one_item(store)
    store.append_label_events([{"item_id": item, "label": "a", "source": "human", "annotator": "ann@x", "tool": "t"}])
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(sql))
    events = store.label_events()
    assert [(e["label"], e["annotator"]) for e in events] == [("a", "ann@x")]


def test_event_sources_are_checked(store: Store) -> None:
    item = _one_item(store)
    with pytest.raises(ValueError, match="source must be one of"):
        store.append_label_events([{"item_id": item, "label": "a", "source": "guess", "tool": "t"}])


def test_current_label_is_derived_from_events_and_respects_retractions(store: Store) -> None:
    item = _one_item(store)
    store.append_label_events([{"item_id": item, "label": "a", "source": "import", "tool": "t"}])
    store.append_label_events([{"item_id": item, "label": "b", "source": "human", "tool": "t"}])
    assert store.current_labels() == {item: "b"}
    last = store.label_events()[-1]["id"]
    store.append_label_events(
        [{"item_id": item, "label": None, "source": "human", "tool": "t", "retracts_event_id": last}]
    )
    assert store.current_labels() == {item: "a"}
    assert len(store.label_events(item)) == 3


def test_quarantine_keeps_one_row_per_bad_row(store: Store) -> None:
    run = store.start_ingest_run("t.csv", "csv", None)
    row = {
        "ingest_run_id": run,
        "source": "t.csv",
        "line": 3,
        "reason": "empty_text",
        "detail": "d",
        "raw_excerpt": "x",
        "raw_sha256": "s",
    }
    assert store.add_quarantine([row]) == 1
    assert store.add_quarantine([row]) == 0
    assert store.counts().quarantine_by_reason == {"empty_text": 1}


def test_migrations_match_the_models(store: Store) -> None:
    """The ORM models and the migration scripts describe the same schema (alembic finds nothing to generate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from labelloop.engine.store.models import Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrations_go_down_to_base_and_back_up(store: Store) -> None:
    """Every downgrade runs on this backend, and the schema built again still guards label_events."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from labelloop.engine.store.db import MIGRATIONS_DIR, migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(store.engine) is None
    assert inspect(store.engine).get_table_names() == ["alembic_version"]

    migrate(store.engine)
    assert current_revision(store.engine) == head_revision()
    item = _one_item(store)
    store.append_label_events([{"item_id": item, "label": "a", "source": "human", "tool": "t"}])
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM label_events"))


def test_busy_timeout_comes_from_the_config_then_the_environment_then_30_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``store.busy_timeout_s`` wins over LABELLOOP_SQLITE_BUSY_TIMEOUT_S, which wins over the 30 s default; it is
    what each SQLite connection waits for a lock, and a bad config value names its key."""
    from labelloop.engine.api import Project
    from labelloop.engine.config import ConfigError, parse_config
    from labelloop.engine.store.db import BUSY_TIMEOUT_ENV

    def waits_ms(store: Store) -> int:
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())

    def project(**store_cfg: object) -> Project:
        raw = {"project": "t", "task": {"labels": ["a", "b"]}, "store": store_cfg}
        return Project(parse_config(raw, base_dir=tmp_path), workdir=tmp_path / "w")

    monkeypatch.delenv(BUSY_TIMEOUT_ENV, raising=False)
    with project() as p:
        p.init()
        assert (p.store.busy_timeout_s, waits_ms(p.store)) == (30.0, 30_000)
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "2")
    with project() as p:
        assert (p.store.busy_timeout_s, waits_ms(p.store)) == (2.0, 2_000)
    with project(busy_timeout_s=0.25) as p:
        assert (p.store.busy_timeout_s, waits_ms(p.store)) == (0.25, 250)
    with pytest.raises(ConfigError, match=r"store\.busy_timeout_s"):
        project(busy_timeout_s=-1)
