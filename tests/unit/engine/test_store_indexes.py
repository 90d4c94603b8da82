"""Store indexes that the bulk ingest depends on being cheap, on every backend (``store_url``): the Label Studio task
index is partial (import events add no entry to it) and still serves the query that looks events up by task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from labelloop.engine.store import Store
from labelloop.engine.store.models import LabelEvent


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.create(store_url)
    yield s
    s.close()


def _events(store: Store) -> None:
    run = store.start_ingest_run("t.csv", "csv", None)
    ids = store.add_items(
        [
            {"identity_hash": f"h{i}", "content_hash": "c", "text": "t", "source": "t.csv", "source_line": i + 2}
            | {"ingest_run_id": run}
            for i in range(3)
        ]
    )
    store.append_label_events(
        [{"item_id": ids[f"h{i}"], "label": "a", "source": "import", "tool": "t"} for i in range(3)]
    )
    store.append_label_events(
        [
            {"item_id": ids["h0"], "label": "b", "source": "human", "tool": "ls", "ext_project_id": 7}
            | {"ext_task_id": 70 + i, "ext_annotation_id": 700 + i}
            for i in range(2)
        ]
    )


def test_task_index_is_partial_and_serves_the_task_lookup(store: Store) -> None:
    _events(store)
    found = store.ls_events_for_tasks(7, [70, 71, 99])
    assert [(e["label"], e["ext_task_id"]) for e in found] == [("b", 70), ("b", 71)]
    stmt = select(LabelEvent.id).where(LabelEvent.ext_project_id == 7, LabelEvent.ext_task_id.in_([70, 71]))
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            definition = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_label_events_ext_task'")
            ).scalar_one()
            n_entries = conn.execute(
                text("SELECT count(*) FROM label_events INDEXED BY ix_label_events_ext_task WHERE ext_task_id > 0")
            ).scalar_one()
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        else:
            definition = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_label_events_ext_task'")
            ).scalar_one()
            n_entries = None
            conn.execute(text("SET enable_seqscan = off"))  # a 5-row table: make the planner show the index
            plan = " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ext_task_id IS NOT NULL" in definition
    assert "ix_label_events_ext_task" in plan
    if n_entries is not None:
        assert n_entries == 2
