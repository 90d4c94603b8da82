"""The items table's unique key (engine/store/keys.py): the identity hash's first 64 bits, unique in the database,
the full hash compared on a match; and migration 0005, which moved an existing store's items onto it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from labelloop.engine.store import Store
from labelloop.engine.store.db import current_revision, head_revision, migrate
from labelloop.engine.store.keys import identity_key, identity_keys


def _h(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def test_the_key_is_the_hashs_first_64_bits_signed() -> None:
    assert identity_key("0" * 15 + "1" + "f" * 48) == 1
    assert identity_key("7fffffffffffffff" + "0" * 48) == 2**63 - 1
    assert identity_key("8000000000000000" + "0" * 48) == -(2**63)
    assert identity_key("f" * 64) == -1
    hashes = [_h(str(i)) for i in range(1000)]
    assert identity_keys(hashes) == [identity_key(h) for h in hashes]
    assert len(set(identity_keys(hashes))) == 1000


@pytest.mark.parametrize("bad", ["h1", "z" * 64, "abc"])
def test_a_hash_that_is_not_hex_is_named_in_the_error(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        identity_key(bad)
    with pytest.raises(ValueError, match=repr(bad)):
        identity_keys([_h("ok"), bad])


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.create(store_url)
    yield s
    s.close()


def _item(store: Store, h: str, line: int) -> dict[str, int]:
    run = store.start_ingest_run("t.csv", "csv", None)
    row = {"identity_hash": h, "content_hash": "c", "text": f"t{line}", "source": "t.csv", "source_line": line}
    return store.add_items([row | {"ingest_run_id": run}])


def test_lookups_tell_a_known_item_from_a_key_collision(store: Store) -> None:
    a = _h("a")
    b = a[:16] + _h("b")[16:]  # same first 64 bits, another hash: a collision
    ids = _item(store, a, 2)
    m = store.existing_identities([a, b, _h("c")])
    assert m.known == {a: ids[a]}
    assert m.collisions == {b: ids[a]}
    with pytest.raises(IntegrityError):  # the database itself refuses a second item under one key
        _item(store, b, 3)


def test_import_batch_reports_collisions_and_adds_only_the_first_text_of_a_key(tmp_path: Path) -> None:
    from labelloop.engine.store.repository import ImportBatch

    store = Store.create(f"sqlite:///{tmp_path / 's.db'}")
    a, c = _h("a"), _h("c")
    b = a[:16] + _h("b")[16:]
    run = store.start_ingest_run("t.csv", "csv", None)

    def batch(hashes: list[str], first_line: int) -> ImportBatch:
        n = len(hashes)
        lines = list(range(first_line, first_line + n))
        return ImportBatch(
            run_id=run, source="t.csv", lines=lines, identity_hashes=hashes, content_hashes=["x"] * n,
            texts=[f"t{i}" for i in lines], external_ids=[None] * n, splits=[None] * n, labels=["pos"] * n,
            event_prefix="import:t.csv#L", annotator="import:t.csv", tool="t", tool_version=None,
        )  # fmt: skip

    first = store.import_batch(batch([a, b, c, a], 2))
    assert (first.items_added, first.label_events_added) == (2, 3)  # a, c; events for lines 2, 4, 5
    holder = store.existing_identities([a]).known[a]
    assert first.collisions == ((1, holder),)
    again = store.import_batch(batch([b, a], 2))  # b still collides with the stored a; a is known
    assert (again.items_added, again.collisions) == (0, ((0, holder),))
    assert again.label_events_added == 1  # a at line 3 is new (b was there before, and got no event)
    assert store.import_batch(batch([b, a], 2)).label_events_added == 0  # the same rows again: nothing new
    store.close()


def test_migration_0005_keys_existing_items_and_keeps_their_references(store: Store) -> None:
    """A store at 0004 with items, predictions and events referencing them: after the upgrade every item has its
    key, the keys are unique in the database, the old text index is gone, and every reference still holds."""
    with store.engine.begin() as conn:
        from alembic import command

        from labelloop.engine.store.db import _alembic_config

        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert current_revision(store.engine) == "0004"
    hashes = [_h(f"item{i}") for i in range(5)]
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO ingest_runs (id, source, source_format, started_at, status, rows_read, "
                          "items_added, duplicates, quarantined, labels_imported, redacted_entities) "
                          "VALUES (1, 't.csv', 'csv', '2026-01-01', 'done', 5, 5, 0, 0, 0, '{}')"))  # fmt: skip
        for i, h in enumerate(hashes):
            conn.execute(
                text(
                    "INSERT INTO items (id, identity_hash, content_hash, kind, text, source, source_line, "
                    "ingest_run_id, metadata, redactions, ingested_at) "
                    "VALUES (:id, :h, 'c', 'text', :t, 't.csv', :line, 1, '{}', '{}', '2026-01-01')"
                ),
                {"id": 10 + i, "h": h, "t": f"text {i}", "line": i + 2},
            )
        conn.execute(
            text(
                "INSERT INTO label_events (item_id, label, source, tool, event_at, recorded_at, extra) "
                "VALUES (12, 'pos', 'human', 't', '2026-01-01', '2026-01-01', '{}')"
            )
        )
    migrate(store.engine)
    assert current_revision(store.engine) == head_revision()
    items = {i["id"]: i for i in store.items(columns=("id", "identity_hash", "identity_key", "text"))}
    assert sorted(items) == [10, 11, 12, 13, 14]
    assert all(it["identity_key"] == identity_key(it["identity_hash"]) for it in items.values())
    assert [(e["item_id"], e["label"]) for e in store.label_events()] == [(12, "pos")]
    indexes = {ix["name"]: ix for ix in inspect(store.engine).get_indexes("items")}
    assert indexes["ux_items_identity_key"]["unique"] and "ix_items_external_id" not in indexes
    uniques = inspect(store.engine).get_unique_constraints("items")
    assert not any(u["column_names"] == ["identity_hash"] for u in uniques)
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(text("UPDATE items SET identity_key = :k WHERE id = 11"), {"k": items[10]["identity_key"]})
    # The store works as before: a lookup finds the migrated items by key.
    assert store.existing_identities(hashes).known == {h: 10 + i for i, h in enumerate(hashes)}
