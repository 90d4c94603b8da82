"""Import label events of a chunk whose rows are all new are built by SQLite from JSON (one statement): they must be
exactly the rows the per-row path writes, labels with quotes and non-ASCII included, unlabelled rows left out."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import text

from labelloop.engine.store import Store
from labelloop.engine.store.repository import ImportBatch

LABELS = [None, 'say "hi"', "ünïcode", None, "it's", 'say "hi"', "[0]", "$.x"]


def _batch(run_id: int, start: int, labels: list[str | None]) -> ImportBatch:
    n = len(labels)
    texts = [f"row {i}" for i in range(start, start + n)]
    return ImportBatch(
        run_id=run_id,
        source="rows.csv",
        lines=range(start + 2, start + n + 2),
        identity_hashes=[hashlib.blake2b(t.encode(), digest_size=32).hexdigest() for t in texts],
        content_hashes=[hashlib.sha256(t.encode()).hexdigest() for t in texts],
        texts=texts,
        external_ids=[None] * n,
        splits=[None] * n,
        labels=labels,
        event_prefix="import:rows.csv#L",
        annotator="import:rows.csv",
        tool="labelloop-ingest",
        tool_version="t",
    )


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
    for name, write_locked in (("fast", True), ("rows", False)):
        store = Store.create(f"sqlite:///{tmp_path / name}.db")
        run = store.start_ingest_run("rows.csv", "csv", None)
        if write_locked:  # BulkImport holds the write lock: the all-new path
            with store.bulk_import() as bulk:
                counts = [bulk.add(_batch(run, 0, LABELS)), bulk.add(_batch(run, 100, [None, None]))]
        else:  # Store.import_batch: no lock held up front, ids read back
            counts = [store.import_batch(_batch(run, 0, LABELS)), store.import_batch(_batch(run, 100, [None, None]))]
        results.append(([(c.items_added, c.label_events_added) for c in counts], _events(store)))
        store.engine.dispose()
    (fast_counts, fast), (row_counts, rows) = results
    assert fast_counts == row_counts == [(8, 6), (2, 0)]
    assert fast == rows
    assert [(e[2], e[3], e[7]) for e in fast] == [
        (label, f"import:rows.csv#L{i + 2}", f"row {i}") for i, label in enumerate(LABELS) if label is not None
    ]
