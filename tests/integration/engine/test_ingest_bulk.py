"""The bulk ingest path (redaction off, SQLite, Arrow columns) must store exactly what the row-by-row path stores:
same items and ids, same import events, same quarantine rows, same counts; re-ingests add nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.ingest import ingest_source
from labelloop.engine.ingest.identity import load_or_create_key

ITEM_COLUMNS = (
    "id",
    "identity_hash",
    "content_hash",
    "text",
    "original_text",
    "external_id",
    "split",
    "source",
    "source_line",
    "metadata",
    "redactions",
)
EVENT_COLUMNS = ("id", "item_id", "label", "source", "annotator", "tool", "tool_version", "external_id", "extra")
# Summary keys that say how an ingest ran, not what it stored.
NOT_COMPARED = {
    "run_id",
    "seconds",
    "rows_per_s",
    "stage_cpu_seconds",
    "write_cpu_seconds",
    "writer",
    "reader",
    "journal",
}
QUARANTINE_COLUMNS = ("source", "line", "reason", "detail", "raw_excerpt", "raw_sha256")


class _PassThrough:
    """Redacts nothing, but is not NoRedaction: forces the row-by-row writer for comparison."""

    def redact_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, int]]]:
        return [(t, {}) for t in texts]


def _csv(path: Path, n: int = 60) -> Path:
    lines = ["id,text,label,split,url"]
    for i in range(n):
        text = {
            0: f"plain row number {i}",
            1: "a repeated text",  # duplicates within and across chunks
            2: f"caf\u00e9 cr\u00e8me {i}",
            3: f"  padded   row {i} ",
            4: "",
            5: f'"quoted, multi\nline {i}"',
            6: "A  repeated\ttext",  # same identity as 1 once normalised
        }[i % 7]
        label = ["pos", "neg", "", "maybe", " pos"][i % 5]
        split = ["train", "test", ""][i % 3]
        lines.append(f"r{i},{text},{label},{split},http://x/{i}")
    lines.insert(20, "bad,row")  # wrong field count
    path.write_bytes("\n".join(lines).encode() + b"\nr-bad,bad \xff byte,pos,train,u\n")
    return path


def _jsonl(path: Path, n: int = 60) -> Path:
    """The same rows as JSON Lines (plus a broken line), so the row-list blocks take the bulk writer too."""
    import csv
    import json

    with _csv(path.with_suffix(".src.csv"), n).open(encoding="utf-8", errors="replace", newline="") as fh:
        records = list(csv.DictReader(fh))
    lines = [json.dumps({k: v for k, v in r.items() if k is not None}) for r in records]
    lines.insert(5, '{"id": "broken", "text": ')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(tmp_path: Path, name: str, sources: list[Path], *, via_rows: bool, **ingest: Any) -> dict[str, Any]:
    cfg = parse_config(
        {
            "project": "t",
            "task": {"labels": ["pos", "neg"]},
            "source": {
                "path": str(sources[0]),
                "label_field": "label",
                "split_field": "split",
                "metadata_fields": ["url"],
                **ingest.pop("source", {}),
            },
            "ingest": {"max_text_chars": 40, "chunk_rows": 8, **ingest},
            "privacy": {"redact": False},
        },
        base_dir=tmp_path,
    )
    summaries = []
    with Project(cfg, workdir=tmp_path / name) as project:
        project.init()
        key = load_or_create_key(tmp_path, None)  # one key for both runs: identity hashes comparable
        for src in sources:
            source_cfg = cfg.source.model_copy(update={"path": src})  # type: ignore[union-attr]
            redactor = _PassThrough() if via_rows else _no_redaction()
            s = ingest_source(project.store, cfg, source_cfg, hash_key=key, redactor=redactor)
            assert s.writer == ("rows" if via_rows else "bulk")
            # The bulk writer runs in the rollback journal (nothing else has the store open) and leaves it in WAL.
            assert s.journal == ("" if via_rows else "rollback")
            with project.store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            d = s.as_dict()
            summaries.append({k: d[k] for k in d if k not in NOT_COMPARED})
        store = project.store
        return {
            "summaries": summaries,
            "items": [{k: i[k] for k in ITEM_COLUMNS} for i in store.items()],
            "events": [{k: e[k] for k in EVENT_COLUMNS} for e in store.label_events()],
            "quarantine": [{k: q[k] for k in QUARANTINE_COLUMNS} for q in store.quarantine()],
        }


def _no_redaction() -> Any:
    from labelloop.engine.ingest import NoRedaction

    return NoRedaction()


@pytest.mark.parametrize(
    "options",
    [{}, {"store_original_text": True}, {"source": {"label_splits": ["test"], "metadata_fields": []}}],
    ids=["default", "original-text", "label-splits"],
)
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("reader", ["thread", "process"])
def test_bulk_path_stores_what_the_row_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], fmt: str, reader: str
) -> None:
    """Also with the bulk path's chunks read in a separate process (as for big files): the same tables."""
    from labelloop.engine.ingest import pipeline

    monkeypatch.setattr(pipeline, "READER_PROCESS_MIN_BYTES", 0 if reader == "process" else 1 << 40)
    make = _csv if fmt == "csv" else _jsonl
    first = make(tmp_path / f"a.{fmt}")
    second = make(tmp_path / f"b.{fmt}", n=80)  # overlaps the first file: known items, new lines
    sources = [first, first, second, second]
    bulk = _run(tmp_path, "bulk", sources, via_rows=False, **dict(options))
    rows = _run(tmp_path, "rows", sources, via_rows=True, **dict(options))
    for key in ("summaries", "items", "events", "quarantine"):
        for a, b in zip(bulk[key], rows[key], strict=True):
            assert a == b, key
    assert bulk == rows
    s = bulk["summaries"]
    assert all(x["rows_read"] == x["items_added"] + x["duplicates"] + x["quarantined"] for x in s)
    assert s[0]["items_added"] > 0 and s[0]["labels_imported"] > 0 and s[0]["quarantined"] > 0
    assert s[1]["items_added"] == 0 and s[1]["labels_imported"] == 0 and s[1]["quarantine_new"] == 0
    assert s[2]["labels_imported"] > 0 and s[3]["labels_imported"] == 0
    reasons = {q["reason"] for q in bulk["quarantine"]}
    expected = {"malformed_row", "invalid_utf8"} if fmt == "csv" else {"invalid_json"}
    assert {"empty_text", "unknown_label"} | expected <= reasons
    assert {e["external_id"].split("#")[0] for e in bulk["events"]} == {f"import:a.{fmt}", f"import:b.{fmt}"}


def test_redaction_off_ingest_on_each_store_backend(tmp_path: Path, store_url: str) -> None:
    """SQLite takes the bulk writer, PostgreSQL the generic one; both give the same counts."""
    src = _csv(tmp_path / "a.csv")
    cfg = parse_config(
        {
            "project": "t",
            "task": {"labels": ["pos", "neg"]},
            "store": {"url": store_url},
            "source": {"path": str(src), "label_field": "label"},
            "ingest": {"max_text_chars": 40, "chunk_rows": 8},
            "privacy": {"redact": False},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        s = project.ingest()
        again = project.ingest()
        counts = project.store.counts()
    assert s.writer == ("bulk" if store_url.startswith("sqlite") else "rows")
    assert (s.items_added, s.quarantined) == (counts.items, counts.quarantined) and s.items_added > 0
    assert s.labels_imported == counts.label_events > 0
    assert (again.items_added, again.labels_imported, again.quarantine_new) == (0, 0, 0)


def test_identity_key_collisions_are_quarantined_alike_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's unique key is the identity hash's first 64 bits; folded here to 2 bits, most different texts
    collide. Both writers must keep the first text of each key as an item, quarantine every other text under that
    key (reason identity_collision, naming the item that holds the key), count true duplicates as duplicates, and
    add nothing on a re-ingest: the same tables either way."""
    from labelloop.engine.ingest import chunks
    from labelloop.engine.store import keys, repository

    (tmp_path / "identity.key").write_text("11" * 32)  # a fixed key: which texts share a folded key is fixed too
    first, second = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv", n=80)
    sources = [first, first, second]
    plain = _run(tmp_path, "plain", sources, via_rows=False)  # real 64-bit keys: no collision
    real = keys.identity_keys

    def folded(hashes: Sequence[str]) -> list[int]:
        return [k & 3 for k in real(hashes)]

    monkeypatch.setattr(chunks, "identity_keys", folded)
    monkeypatch.setattr(repository, "identity_keys", folded)
    bulk = _run(tmp_path, "bulk", sources, via_rows=False)
    rows = _run(tmp_path, "rows", sources, via_rows=True)
    assert bulk == rows
    s = bulk["summaries"]
    assert all(x["rows_read"] == x["items_added"] + x["duplicates"] + x["quarantined"] for x in s)
    assert len(bulk["items"]) == 4  # one text per folded key
    collided = [q for q in bulk["quarantine"] if q["reason"] == "identity_collision"]
    assert not any(q["reason"] == "identity_collision" for q in plain["quarantine"])
    assert s[0]["quarantine_by_reason"]["identity_collision"] > 10
    assert s[1]["items_added"] == 0 and s[1]["quarantine_new"] == 0 and s[1]["labels_imported"] == 0
    item_ids = {i["id"] for i in bulk["items"]}
    for q in collided:
        holder = int(q["detail"].split("key with item ")[1].split(",")[0])
        assert holder in item_ids
    # Nothing lost: each text the plain run made an item is an item here or a collision row's excerpt, and true
    # duplicates (the repeated texts) stay duplicates.
    kept = {i["text"] for i in bulk["items"]} | {q["raw_excerpt"] for q in collided}
    assert {i["text"] for i in plain["items"]} == kept
    assert all(x["duplicates"] <= y["duplicates"] for x, y in zip(s, plain["summaries"], strict=True))
    # a.csv's only duplicates are its repeated texts: two identities ("a repeated text", "A  repeated\ttext"), n_g
    # valid rows each. The plain run counts sum(n_g - 1) duplicates. Here a group whose first row became an item
    # still counts n_g - 1 duplicates; a group whose first row collided has all n_g rows as collision rows.
    plain_dups = plain["summaries"][0]["duplicates"]
    repeats = [q for q in collided if "repeated" in q["raw_excerpt"] and q["source"].endswith("a.csv")]
    groups_kept = sum("repeated" in i["text"] for i in bulk["items"])
    assert s[0]["duplicates"] + len(repeats) == plain_dups + (2 - groups_kept)
    assert plain_dups == 11 and (groups_kept < 2) == bool(repeats)
