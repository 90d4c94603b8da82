"""Store indexes that the bulk ingest depends on being cheap, on every backend (``store_url``): the Label Studio task
index is partial (import events add no entry to it) and still serves the query that looks events up by task."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from labelloop.engine.store import Store
from labelloop.engine.store.models import LabelEvent


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.create(store_url)
    yield s
    s.close()


def _h(i: int) -> str:
    return hashlib.sha256(f"h{i}".encode()).hexdigest()


def _events(store: Store) -> None:
    run = store.start_ingest_run("t.csv", "csv", None)
    ids = store.add_items(
        [
            {"identity_hash": _h(i), "content_hash": "c", "text": "t", "source": "t.csv", "source_line": i + 2}
            | {"ingest_run_id": run}
            for i in range(3)
        ]
    )
    store.append_label_events(
        [{"item_id": ids[_h(i)], "label": "a", "source": "import", "tool": "t"} for i in range(3)]
    )
    store.append_label_events(
        [
            {"item_id": ids[_h(0)], "label": "b", "source": "human", "tool": "ls", "ext_project_id": 7}
            | {"ext_task_id": 70 + i, "ext_annotation_id": 700 + i}
            for i in range(2)
        ]
    )


def _index_facts(store: Store, index: str, query: str, entries_where: str) -> tuple[str, int | None, str]:
    """The index's definition, (SQLite) how many rows it holds of those matching ``entries_where``, and the plan
    of ``query``, on this backend."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            definition = conn.execute(text(f"SELECT sql FROM sqlite_master WHERE name = '{index}'")).scalar_one()
            n_entries = conn.execute(
                text(f"SELECT count(*) FROM label_events INDEXED BY {index} WHERE {entries_where}")
            ).scalar_one()
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
        else:
            definition = conn.execute(text(f"SELECT indexdef FROM pg_indexes WHERE indexname = '{index}'")).scalar_one()
            n_entries = None
            conn.execute(text("SET enable_seqscan = off"))  # a few-row table: make the planner show the index
            plan = " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {query}")))
    return definition, n_entries, plan


def test_task_index_is_partial_and_serves_the_task_lookup(store: Store) -> None:
    _events(store)
    found = store.ls_events_for_tasks(7, [70, 71, 99])
    assert [(e["label"], e["ext_task_id"]) for e in found] == [("b", 70), ("b", 71)]
    stmt = select(LabelEvent.id).where(LabelEvent.ext_project_id == 7, LabelEvent.ext_task_id.in_([70, 71]))
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    definition, n_entries, plan = _index_facts(store, "ix_label_events_ext_task", sql, "ext_task_id > 0")
    assert "ext_task_id IS NOT NULL" in definition
    assert "ix_label_events_ext_task" in plan
    if n_entries is not None:
        assert n_entries == 2


def test_a_new_sqlite_store_has_16k_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    """16 KiB pages make the bulk ingest cheaper (bench/ingest.md); a store made with another size keeps working."""
    new = Store.create(f"sqlite:///{tmp_path / 'new.db'}")
    old_path = tmp_path / "old.db"
    raw = sqlite3.connect(old_path)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (x)")
    raw.close()
    old = Store.create(f"sqlite:///{old_path}")
    try:
        for store, size in ((new, 16384), (old, 4096)):
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            _events(store)
            assert len(store.ls_events_for_tasks(7, [70])) == 1
    finally:
        new.close()
        old.close()


def test_external_id_index_leaves_import_events_out_and_serves_the_other_sources(store: Store) -> None:
    """Import events (one per labelled source row) are found by item, the others by external id, on the index."""
    _events(store)
    ids = [store.existing_identities([_h(i)]).known[_h(i)] for i in range(3)]
    store.append_label_events([{"item_id": ids[1], "label": "a", "source": "model", "tool": "t", "external_id": "m1"}])
    assert store.existing_external_ids("model", ["m1", "m2"]) == {(ids[1], "m1")}
    assert store.import_events(ids[:2]) == {(ids[0], None), (ids[1], None)}  # _events' carry no external id
    store.append_label_events(
        [{"item_id": ids[2], "label": "a", "source": "import", "tool": "t", "external_id": "import:t.csv#L4"}]
    )
    assert store.import_events([ids[2]]) == {(ids[2], None), (ids[2], "import:t.csv#L4")}
    with pytest.raises(ValueError, match="by item"):
        store.existing_external_ids("import", ["import:t.csv#L4"])
    query = (
        "SELECT item_id FROM label_events WHERE label_events.source = 'model' AND label_events.external_id IN ('m1') "
        "AND label_events.source <> 'import'"
    )
    definition, n_entries, plan = _index_facts(store, "ix_label_events_ext", query, "source <> 'import'")
    assert "<> 'import'" in definition
    assert "ix_label_events_ext" in plan
    if n_entries is not None:
        assert n_entries == 3  # the two human events and the model event; none of the four import events
