"""The bulk writer's transactions span several chunks (``BULK_COMMIT_ROWS``): counts must still add up, re-ingests
add nothing, and a failure leaves the store and the run's recorded counts in agreement (whole chunks only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelloop.connectors.sources import SourceError
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.ingest import pipeline
from labelloop.engine.store import repository

CHUNK = 8


def _csv(path: Path, n: int = 100) -> Path:
    """Unique rows, a text repeated inside one chunk and across chunks, and bad rows (empty, unknown label)."""
    lines = ["id,text,label"]
    for i in range(n):
        if i % 10 == 3:
            text = "the same text again"  # rows 3, 13, 23, ...: first one new, the rest duplicates
        elif i % 10 == 4:
            text = "the  same   text again"  # same identity once normalised, in the same chunk as row 3
        elif i % 17 == 5:
            text = ""
        else:
            text = f"row number {i} here"
        label = "maybe" if i % 19 == 7 else ["pos", "neg", ""][i % 3]
        lines.append(f"r{i},{text},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _project(tmp_path: Path, src: Path) -> Project:
    cfg = parse_config(
        {
            "project": "t",
            "task": {"labels": ["pos", "neg"]},
            "source": {"path": str(src), "label_field": "label"},
            "ingest": {"chunk_rows": CHUNK},
            "privacy": {"redact": False},
        },
        base_dir=tmp_path,
    )
    project = Project(cfg, workdir=tmp_path / "w")
    project.init()
    return project


def _store_state(project: Project) -> dict[str, Any]:
    store = project.store
    events = store.label_events()
    return {
        "items": [(i["id"], i["identity_hash"], i["source_line"]) for i in store.items()],
        "events": [(e["item_id"], e["external_id"], e["label"]) for e in events],
        "quarantine": sorted((q["line"], q["reason"]) for q in store.quarantine()),
    }


def _assert_run_matches_store(project: Project) -> None:
    """Over all runs, the recorded counts are exactly what the store holds."""
    runs = project.store.ingest_runs()
    counts = project.store.counts()
    assert sum(r["items_added"] for r in runs) == counts.items
    assert sum(r["labels_imported"] for r in runs) == counts.label_events
    for r in runs:
        assert r["rows_read"] >= r["items_added"] + r["duplicates"] + r["quarantined"]


@pytest.mark.parametrize("commit_rows", [1, 20, 10_000], ids=["every-chunk", "every-few-chunks", "one-transaction"])
def test_counts_dedup_and_reingest_whatever_the_transaction_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commit_rows: int
) -> None:
    monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", commit_rows)
    src = _csv(tmp_path / "a.csv")
    with _project(tmp_path, src) as project:
        s = project.ingest()
        assert s.writer == "bulk"
        state = _store_state(project)
        again = project.ingest()
        assert _store_state(project) == state
        _assert_run_matches_store(project)
    assert s.rows_read == 100 == s.items_added + s.duplicates + s.quarantined
    # rows 3, 4, 13, 14, ... share one identity: one item, the valid rest are duplicates (in and across chunks)
    same = [i for i in range(100) if i % 10 in (3, 4) and i % 19 != 7]
    assert s.duplicates == len(same) - 1 and s.items_added == len(state["items"])
    assert [line for _, _, line in state["items"]] == sorted(line for _, _, line in state["items"])
    assert sum(s.quarantine_by_reason.values()) == s.quarantined == len(state["quarantine"]) > 0
    assert {r for _, r in state["quarantine"]} == {"empty_text", "unknown_label"}
    assert s.labels_imported == len(state["events"]) > 0
    assert len({e for _, e, _ in state["events"]}) == len(state["events"])  # one event per labelled line
    assert (again.items_added, again.labels_imported, again.quarantine_new) == (0, 0, 0)
    assert again.duplicates + again.quarantined == again.rows_read == 100


def test_failure_inside_a_chunk_rolls_back_to_the_last_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 5th chunk fails inside the store: chunks 1-4 were committed (commit every 2 chunks), nothing after; the
    failed run records exactly what was kept, and a second ingest completes the store."""
    monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", 2 * CHUNK)
    src = _csv(tmp_path / "a.csv")
    real = repository._sqlite_import
    calls = {"n": 0}

    def failing(conn: Any, batch: repository.ImportBatch, *args: Any, **kwargs: Any) -> repository.ImportCounts:
        calls["n"] += 1
        counts = real(conn, batch, *args, **kwargs)  # the items are in: the failure comes between items and commit
        if calls["n"] == 5:
            raise RuntimeError("disk on fire")
        return counts

    with _project(tmp_path, src) as project:
        monkeypatch.setattr(repository, "_sqlite_import", failing)
        with pytest.raises(RuntimeError, match="disk on fire"):
            project.ingest()
        monkeypatch.setattr(repository, "_sqlite_import", real)
        (run,) = project.store.ingest_runs()
        assert run["status"] == "failed"
        kept = _store_state(project)
        assert max(line for _, _, line in kept["items"]) <= 4 * CHUNK + 1  # header is line 1
        assert run["items_added"] == len(kept["items"]) > 0
        assert run["labels_imported"] == len(kept["events"])
        assert run["quarantined"] == len(kept["quarantine"])
        s = project.ingest()
        assert s.status == "done" and s.items_added > 0
        _assert_run_matches_store(project)
        completed = _store_state(project)

    with _project(tmp_path / "clean", src) as clean:
        clean.ingest()
        reference = _store_state(clean)
    assert [line for _, _, line in completed["items"]] == [line for _, _, line in reference["items"]]
    assert [(e, lb) for _, e, lb in completed["events"]] == [(e, lb) for _, e, lb in reference["events"]]
    assert completed["quarantine"] == reference["quarantine"]


@pytest.mark.parametrize("reader", ["thread", "process"])
def test_failure_outside_the_writer_keeps_the_chunks_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """The file breaks after 3 chunks (reader error): those 3 chunks are stored whole, with matching run counts.
    With the reader in its own process, its error reaches the ingest with its type and message."""
    from labelloop.engine.ingest import chunks

    monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", 10_000)  # nothing committed before the failure
    monkeypatch.setattr(pipeline, "READER_PROCESS_MIN_BYTES", 0 if reader == "process" else 1 << 40)
    src = _csv(tmp_path / "a.csv")
    real_open = chunks.open_source

    def breaking_open(path: Path, fmt: str) -> Any:
        reader = real_open(path, fmt)
        real_blocks = reader.blocks

        def blocks(chunk_rows: int) -> Iterator[Any]:
            for i, block in enumerate(real_blocks(chunk_rows)):
                if i == 3:
                    raise SourceError("file truncated")
                yield block

        reader.blocks = blocks
        return reader

    monkeypatch.setattr(chunks, "open_source", breaking_open)  # the forked reader process inherits it
    with _project(tmp_path, src) as project:
        with pytest.raises(SourceError, match="file truncated"):
            project.ingest()
        (run,) = project.store.ingest_runs()
        kept = _store_state(project)
    assert run["status"] == "failed" and run["rows_read"] == 3 * CHUNK
    assert max(line for _, _, line in kept["items"]) <= 3 * CHUNK + 1
    assert run["items_added"] == len(kept["items"]) > 0
    assert run["labels_imported"] == len(kept["events"]) > 0
    assert run["items_added"] + run["duplicates"] + run["quarantined"] == run["rows_read"]


def test_a_reader_process_that_dies_fails_the_ingest_and_keeps_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader process is killed after 2 chunks (here: it exits with code 3): the ingest raises, naming the exit
    code, instead of waiting for ever; the run is marked failed and the chunks written before are stored whole."""
    import os
    import time

    from labelloop.engine.ingest import chunks

    monkeypatch.setattr(pipeline, "READER_PROCESS_MIN_BYTES", 0)
    real_chunks = chunks.local_chunks

    def dying(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for i, chunk in enumerate(real_chunks(*args, **kwargs)):
            if i == 2:
                time.sleep(1.0)  # the queue's feeder thread hands the 2 chunks over; then the process is gone
                os._exit(3)
            yield chunk

    monkeypatch.setattr(chunks, "local_chunks", dying)  # what the forked reader runs
    src = _csv(tmp_path / "a.csv")
    with _project(tmp_path, src) as project:
        with pytest.raises(RuntimeError, match="exit code 3"):
            project.ingest()
        (run,) = project.store.ingest_runs()
        kept = _store_state(project)
    assert run["status"] == "failed" and run["rows_read"] == 2 * CHUNK
    assert run["items_added"] == len(kept["items"]) > 0
    assert run["items_added"] + run["duplicates"] + run["quarantined"] == run["rows_read"]


def test_bulk_connection_gives_its_cache_size_back(tmp_path: Path) -> None:
    """The importer's bigger page cache is for its own connection only: pooled connections keep the default."""
    with _project(tmp_path, _csv(tmp_path / "a.csv")) as project:
        engine = project.store.engine
        with engine.connect() as conn:
            default = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        with project.store.bulk_import(cache_mib=256) as importer:
            seen = importer._connection().exec_driver_sql("PRAGMA cache_size").scalar()
        assert seen == -256 * 1024 != default
        pooled = [engine.connect() for _ in range(max(1, engine.pool.checkedin()))]
        try:
            assert [c.exec_driver_sql("PRAGMA cache_size").scalar() for c in pooled] == [default] * len(pooled)
        finally:
            for c in pooled:
                c.close()


def test_chunks_of_only_new_rows_get_the_right_ids(tmp_path: Path) -> None:
    """Chunks whose rows are all new take the no-read-back path (ids from max(id) under the write lock): every import
    event must point at the item of its own line, also after an earlier ingest left items in the store."""
    first = tmp_path / "first.csv"
    first.write_text("id,text,label\n" + "".join(f"f{i},first file row {i},pos\n" for i in range(5)), encoding="utf-8")
    src = tmp_path / "unique.csv"
    labels = ["pos", "neg", ""]
    src.write_text(
        "id,text,label\n" + "".join(f"u{i},unique row {i},{labels[i % 3]}\n" for i in range(40)), encoding="utf-8"
    )
    with _project(tmp_path, src) as project:
        project.ingest(first)  # same field mapping, another file: items 1-5 exist before the next ingest
        s = project.ingest()
        items = {i["id"]: i for i in project.store.items()}
        events = [e for e in project.store.label_events() if e["external_id"].startswith("import:unique.csv")]
    assert s.items_added == 40 and s.labels_imported == len(events) == 27
    for e in events:
        line = int(e["external_id"].rsplit("#L", 1)[1])
        item = items[e["item_id"]]
        assert (item["source_line"], item["source"]) == (line, str(src))
        assert e["label"] == labels[(line - 2) % 3]
