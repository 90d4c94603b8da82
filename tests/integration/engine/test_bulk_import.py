"""BulkImport, SQLite's fast path for ingest.

It runs in SQLite's rollback journal when it has the store to itself, and must not cost anything for that: readers
opened meanwhile still read, a store someone else holds open stays in WAL, the store goes back to WAL afterwards, and
a process killed mid-import leaves the last commit, whole. The import events of a chunk whose rows are all new are
built by SQLite from JSON (one statement): they must be exactly the rows the per-row path writes."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from labelloop.engine.store import Store
from labelloop.engine.store.repository import ImportBatch

LABELS = [None, 'say "hi"', "ünïcode", None, "it's", 'say "hi"', "[0]", "$.x"]


def _batch(run_id: int, start: int, n: int, labels: list[str | None] | None = None) -> ImportBatch:
    """Rows ``start .. start + n - 1`` of a file ``rows.csv`` (line = row + 2); labels alternate unless given."""
    texts = [f"text number {i}" for i in range(start, start + n)]
    return ImportBatch(
        run_id=run_id,
        source="rows.csv",
        lines=range(start + 2, start + n + 2),
        identity_hashes=[hashlib.blake2b(t.encode(), digest_size=32).hexdigest() for t in texts],
        content_hashes=[hashlib.sha256(t.encode()).hexdigest() for t in texts],
        texts=texts,
        external_ids=[None] * n,
        splits=[None] * n,
        labels=labels if labels is not None else ["pos" if i % 2 else "neg" for i in range(start, start + n)],
        event_prefix="import:rows.csv#L",
        annotator="import:rows.csv",
        tool="labelloop-ingest",
        tool_version="test",
    )


def _journal(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.create(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.engine.dispose()


def test_rollback_journal_while_importing_readers_still_read_and_wal_after(store: Store, tmp_path: Path) -> None:
    run = store.start_ingest_run("rows.csv", "csv", None)
    with store.bulk_import() as bulk:
        bulk.add(_batch(run, 0, 50))
        bulk.commit()
        bulk.add(_batch(run, 50, 50))  # uncommitted: the import holds the write lock now
        assert bulk.journal == "rollback"
        assert _journal(tmp_path / "store.db") == "delete"
        # Another process's store, opened mid-import: its connect hook cannot switch to WAL now and must not fail;
        # it reads the last commit.
        other = Store.open(f"sqlite:///{tmp_path / 'store.db'}", busy_timeout_s=1)
        assert other.counts().items == 50
    assert _journal(tmp_path / "store.db") == "wal"
    assert other.counts().items == 100  # the same connection, back in WAL with the file
    assert store.counts().label_events == 100
    other.engine.dispose()


def test_stays_in_wal_while_another_connection_has_the_store_open(store: Store, tmp_path: Path) -> None:
    run = store.start_ingest_run("rows.csv", "csv", None)
    holder = sqlite3.connect(tmp_path / "store.db")  # an idle WAL reader elsewhere (a dashboard, `status`)
    holder.execute("SELECT count(*) FROM items").fetchone()
    try:
        with store.bulk_import() as bulk:
            bulk.add(_batch(run, 0, 40))
            assert bulk.journal == "wal"
        assert holder.execute("SELECT count(*) FROM items").fetchone()[0] == 40
    finally:
        holder.close()
    assert _journal(tmp_path / "store.db") == "wal"


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = {path!r}
    from labelloop.engine.store import Store
    from test_bulk_import import _batch
    store = Store.open(sys.argv[1])
    run = store.start_ingest_run("rows.csv", "csv", None)
    bulk = store.bulk_import()
    bulk.add(_batch(run, 0, 300))
    bulk.commit()
    bulk.add(_batch(run, 300, 300))
    assert bulk.journal == "rollback", bulk.journal
    os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction, the rollback journal on disk
    """
)


def test_killed_mid_import_leaves_the_last_commit(store: Store, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store.engine.dispose()
    code = KILLED.format(path=[str(Path(__file__).parent), *sys.path])
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / "store.db-journal").exists()  # the hot journal the next connection rolls back
    reopened = Store.open(url)
    counts = reopened.counts()
    assert (counts.items, counts.label_events) == (300, 300)
    with reopened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    reopened.engine.dispose()


def _events(store: Store) -> list[tuple]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT e.id, e.item_id, e.label, e.external_id, e.annotator, e.tool, e.tool_version, i.text "
                    "FROM label_events e JOIN items i ON i.id = e.item_id ORDER BY e.id"
                )
            )
        )


def test_fast_path_events_equal_the_per_row_path(tmp_path: Path) -> None:
    results = []
    for name, bulk_path in (("fast", True), ("rows", False)):
        store = Store.create(f"sqlite:///{tmp_path / name}.db")
        run = store.start_ingest_run("rows.csv", "csv", None)
        batches = [_batch(run, 0, len(LABELS), LABELS), _batch(run, 100, 2, [None, None])]
        if bulk_path:  # BulkImport holds the write lock: the all-new path
            with store.bulk_import() as bulk:
                counts = [bulk.add(b) for b in batches]
        else:  # Store.import_batch: no lock held up front, ids read back, events bound per row
            counts = [store.import_batch(b) for b in batches]
        results.append(([(c.items_added, c.label_events_added) for c in counts], _events(store)))
        store.engine.dispose()
    (fast_counts, fast), (row_counts, rows) = results
    assert fast_counts == row_counts == [(8, 6), (2, 0)]
    assert fast == rows
    assert [(e[2], e[3], e[7]) for e in fast] == [
        (label, f"import:rows.csv#L{i + 2}", f"text number {i}") for i, label in enumerate(LABELS) if label is not None
    ]
