"""The store's API: the only code that reads and writes the label store's tables.

Bulk paths (items, quarantine, label events) use SQLAlchemy Core ``executemany`` so an ingest of a million rows is
bounded by SQLite, not by ORM object creation. ``label_events`` has an append method and nothing that changes or
removes a row.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, Table, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from labelloop.engine.store.db import (
    StoreUnavailable,
    _sqlite_path,
    create_store_engine,
    current_revision,
    head_revision,
    migrate,
    sqlite_busy_timeout_s,
)
from labelloop.engine.store.keys import identity_keys
from labelloop.engine.store.models import (
    LABEL_SOURCES,
    Base,
    DatasetVersion,
    IngestRun,
    Item,
    LabelEvent,
    ModelVersion,
    Prediction,
    PushedTask,
    Quarantine,
    Round,
    SyncState,
    utcnow,
)

log = logging.getLogger(__name__)

# SQLite allows 32,766 bound variables per statement; stay well below for IN (...) lookups.
_IN_BATCH = 10_000
# The WHERE of the partial index ix_label_events_ext, verbatim: SQLite uses a partial index only for a query whose
# WHERE contains that term (a literal, not a bound parameter).
_NOT_IMPORT = text("label_events.source <> 'import'")


@dataclass(frozen=True)
class StoreCounts:
    items: int
    items_by_split: dict[str, int]
    quarantined: int
    quarantine_by_reason: dict[str, int]
    label_events: int
    labelled_items: int
    labels_by_class: dict[str, int]
    ingest_runs: int


@dataclass(frozen=True)
class ImportBatch:
    """Validated source rows of one ingest chunk as parallel columns in file order (see :meth:`Store.import_batch`).

    ``labels[i]`` not None makes an import label event with external id ``f"{event_prefix}{lines[i]}"``.
    """

    run_id: int
    source: str
    lines: Sequence[int]
    identity_hashes: Sequence[str]
    content_hashes: Sequence[str]
    texts: Sequence[str]
    external_ids: Sequence[str | None]
    splits: Sequence[str | None]
    labels: Sequence[str | None]
    event_prefix: str
    annotator: str
    tool: str
    tool_version: str | None
    metadata: Sequence[dict[str, Any]] | None = None  # None: no metadata on any row
    original_texts: Sequence[str | None] | None = None
    identity_keys: Sequence[int] | None = None  # keys.identity_keys(identity_hashes), if the caller has them


@dataclass(frozen=True)
class ImportCounts:
    items_added: int
    label_events_added: int
    # (row position in the batch, id of the item that holds its identity key with a different hash): not added
    collisions: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class IdentityMatches:
    """What the store holds for some identity hashes (see :mod:`~labelloop.engine.store.keys`)."""

    known: dict[str, int]  # identity hash -> id of the item with that hash
    collisions: dict[str, int]  # identity hash -> id of the item holding its key under a different hash


class Store:
    """A label store at a SQLAlchemy URL. Open with :meth:`open` (existing) or :meth:`create` (new or migrate)."""

    def __init__(self, engine: Engine, *, busy_timeout_s: float | None = None) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        # SQLite: how long a write waits for another connection's lock (what an error message should name)
        self.busy_timeout_s = sqlite_busy_timeout_s() if busy_timeout_s is None else busy_timeout_s

    # ---- lifecycle -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, *, busy_timeout_s: float | None = None) -> Store:
        """Create the store if needed and migrate it to the current schema (idempotent)."""
        engine = create_store_engine(url, create=True, busy_timeout_s=busy_timeout_s)
        migrate(engine)
        return cls(engine, busy_timeout_s=busy_timeout_s)

    @classmethod
    def open(cls, url: str, *, busy_timeout_s: float | None = None) -> Store:
        """Open an existing store; refuse one that is missing or whose schema is behind this code."""
        engine = create_store_engine(url, create=False, busy_timeout_s=busy_timeout_s)
        try:
            rev = current_revision(engine)
        except OperationalError as err:
            raise StoreUnavailable(
                f"cannot reach store {engine.url.render_as_string(hide_password=True)}: {err.orig}"
            ) from err
        head = head_revision()
        if rev is None:
            raise StoreUnavailable(f"store {engine.url.database} has no labelloop schema: run `labelloop init` first")
        if rev != head:
            raise StoreUnavailable(
                f"store schema is at revision {rev}, this labelloop needs {head}: run `labelloop init`"
            )
        return cls(engine, busy_timeout_s=busy_timeout_s)

    def close(self) -> None:
        self.engine.dispose()

    # ---- ingest runs -----------------------------------------------------------------------------------------
    def start_ingest_run(self, source: str, source_format: str, file_sha256: str | None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(IngestRun).values(source=source, source_format=source_format, file_sha256=file_sha256)
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_ingest_run(self, run_id: int, *, status: str, **counts: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(IngestRun).where(IngestRun.id == run_id).values(status=status, finished_at=utcnow(), **counts)
            )

    def ingest_runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(IngestRun).order_by(IngestRun.id)).mappings().all()
        return [dict(r) for r in rows]

    # ---- items -----------------------------------------------------------------------------------------------
    def existing_identities(self, hashes: Sequence[str]) -> IdentityMatches:
        """The stored items these identity hashes match, and the hashes whose key a stored item holds under another
        hash (found through the integer key index, confirmed on the full hash)."""
        by_key: dict[int, set[str]] = {}
        for key, h in zip(identity_keys(hashes), hashes, strict=True):
            by_key.setdefault(key, set()).add(h)
        keys = list(by_key)
        matches = IdentityMatches({}, {})
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _IN_BATCH):
                stmt = select(Item.identity_key, Item.identity_hash, Item.id).where(
                    Item.identity_key.in_(keys[i : i + _IN_BATCH])
                )
                for key, stored, item_id in conn.execute(stmt):
                    for h in by_key[key]:
                        (matches.known if h == stored else matches.collisions)[h] = int(item_id)
        return matches

    def add_items(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert new items (keys as :class:`Item` columns; ``identity_key`` is derived from ``identity_hash`` when
        absent); returns ``{identity_hash: item_id}``. The caller has deduplicated (:meth:`existing_identities`)."""
        if not rows:
            return {}
        if "identity_key" not in rows[0]:
            keys = identity_keys([r["identity_hash"] for r in rows])
            rows = [r | {"identity_key": k} for r, k in zip(rows, keys, strict=True)]
        if self.engine.dialect.name != "sqlite":
            # a Core insert takes column keys; rows may use ORM attribute names (``meta`` for "metadata"), which
            # it would drop without a word
            column_of = {attr: col for col, attr in _orm_attribute_names(Item.__table__).items()}
            with self.engine.begin() as conn:
                conn.execute(insert(Item), [{column_of.get(k, k): v for k, v in r.items()} for r in rows])
            return self.existing_identities([r["identity_hash"] for r in rows]).known
        ours = {r["identity_hash"] for r in rows}
        with self.engine.begin() as conn:
            before = conn.execute(select(func.coalesce(func.max(Item.id), 0))).scalar_one()
            _sqlite_bulk_insert(conn, Item.__table__, rows)
            # SQLite gives new rows ids above the old maximum; a concurrent writer's rows are filtered by hash.
            new = conn.execute(select(Item.identity_hash, Item.id).where(Item.id > before))
            return {h: int(i) for h, i in new if h in ours}

    @property
    def supports_import_batch(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def import_batch(self, batch: ImportBatch) -> ImportCounts:
        """Add one chunk's items (first occurrence of an identity wins, known identities are skipped) and their
        import label events, in one transaction; SQLite only (see :attr:`supports_import_batch`).

        The work stays in SQLite's C code: one ``executemany`` with ``ON CONFLICT DO NOTHING`` on the unique
        identity, one scan of the rows just added for their ids, one ``executemany`` for the events. Events of rows
        whose item existed before this chunk are skipped if already recorded, so a re-ingest adds nothing.
        """
        with self.engine.begin() as conn:
            return _sqlite_import(conn, batch)

    def bulk_import(self, *, cache_mib: int = 128) -> BulkImport:
        """A :class:`BulkImport`: many chunks through one connection, committed when the caller says (SQLite only).
        ``cache_mib`` is that connection's page cache while it imports (the pool's default is restored after)."""
        if not self.supports_import_batch:
            raise NotImplementedError(f"bulk import is implemented for SQLite only, not {self.engine.dialect.name!r}")
        return BulkImport(self, cache_mib=cache_mib)

    def existing_item_ids(self, item_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(item_ids), _IN_BATCH):
                part = list(item_ids[i : i + _IN_BATCH])
                found.update(int(r[0]) for r in conn.execute(select(Item.id).where(Item.id.in_(part))))
        return found

    def items(
        self, *, split: str | None = None, limit: int | None = None, columns: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        cols = [getattr(Item, c) for c in columns] if columns else [Item]
        stmt = select(*cols).order_by(Item.id)
        if split is not None:
            stmt = stmt.where(Item.split == split)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            return [dict(r) for r in result.mappings().all()]

    # ---- quarantine ------------------------------------------------------------------------------------------
    def add_quarantine(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert quarantine rows; the same bad row of the same file is kept once. Returns rows newly recorded."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            return self._add_quarantine(conn, rows)

    def _add_quarantine(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
        before = conn.execute(select(func.count()).select_from(Quarantine)).scalar_one()
        conn.execute(self._insert_ignore(Quarantine), list(rows))
        after = conn.execute(select(func.count()).select_from(Quarantine)).scalar_one()
        return int(after - before)

    def quarantine(self, *, source: str | None = None, reason: str | None = None) -> list[dict[str, Any]]:
        stmt = select(Quarantine).order_by(Quarantine.source, Quarantine.line)
        if source is not None:
            stmt = stmt.where(Quarantine.source == source)
        if reason is not None:
            stmt = stmt.where(Quarantine.reason == reason)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    # ---- label events (append-only) --------------------------------------------------------------------------
    def append_label_events(self, events: Sequence[dict[str, Any]]) -> int:
        """Append label events (keys as :class:`LabelEvent` columns). There is no update or delete."""
        if not events:
            return 0
        with self.engine.begin() as conn:
            self._insert_events(conn, events)
        return len(events)

    def _insert_events(self, conn: Connection, events: Sequence[dict[str, Any]]) -> None:
        for e in events:
            if e.get("source") not in LABEL_SOURCES:
                raise ValueError(f"label event source must be one of {LABEL_SOURCES}, got {e.get('source')!r}")
        if self.engine.dialect.name == "sqlite":
            _sqlite_bulk_insert(conn, LabelEvent.__table__, events)
        else:
            conn.execute(insert(LabelEvent), list(events))

    def existing_external_ids(self, source: str, external_ids: Sequence[str]) -> set[tuple[int, str]]:
        """``{(item_id, external_id)}`` already recorded for ``source`` (not ``import``: see :meth:`import_events`):
        what makes re-pulls and repeated auto-labeling no-ops."""
        if source == "import":
            raise ValueError("import events are looked up by item (Store.import_events), not by external id")
        found: set[tuple[int, str]] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(external_ids), _IN_BATCH):
                part = external_ids[i : i + _IN_BATCH]
                rows = conn.execute(
                    select(LabelEvent.item_id, LabelEvent.external_id).where(
                        LabelEvent.source == source,
                        LabelEvent.external_id.in_(part),
                        _NOT_IMPORT,  # the term of the partial index's WHERE, so SQLite uses it
                    )
                )
                found.update((int(item_id), ext) for item_id, ext in rows)
        return found

    def import_events(self, item_ids: Iterable[int]) -> set[tuple[int, str]]:
        """``{(item_id, external_id)}`` of the import events of these items: what makes a re-ingest add no event.
        By item, through the item index: the (source, external_id) index leaves import events out (one per labelled
        source row, it cost about a micro-second per ingested row to maintain; migration 0006)."""
        ids = sorted(set(item_ids))
        found: set[tuple[int, str]] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _IN_BATCH):
                stmt = select(LabelEvent.item_id, LabelEvent.external_id).where(
                    LabelEvent.source == "import", LabelEvent.item_id.in_(ids[i : i + _IN_BATCH])
                )
                found.update((int(item_id), ext) for item_id, ext in conn.execute(stmt))
        return found

    def label_events(self, item_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(LabelEvent).order_by(LabelEvent.id)
        if item_id is not None:
            stmt = stmt.where(LabelEvent.item_id == item_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    def current_labels(self) -> dict[int, str]:
        """Each item's latest non-retracted label: the simplest resolution rule (quality rules come later)."""
        retracted = select(LabelEvent.retracts_event_id).where(LabelEvent.retracts_event_id.is_not(None))
        stmt = (
            select(LabelEvent.item_id, LabelEvent.label)
            .where(LabelEvent.label.is_not(None), LabelEvent.id.not_in(retracted))
            .order_by(LabelEvent.item_id, LabelEvent.id)
        )
        labels: dict[int, str] = {}
        with self.engine.connect() as conn:
            for item_id, label in conn.execute(stmt):
                labels[int(item_id)] = label
        return labels

    # ---- dataset and model versions --------------------------------------------------------------------------
    def add_dataset_version(self, row: dict[str, Any]) -> bool:
        """Record a dataset version; content-addressed, so recording the same one again is a no-op (False)."""
        with self.engine.begin() as conn:
            result = conn.execute(self._insert_ignore(DatasetVersion), [row])
            return bool(result.rowcount)

    def dataset_version(self, version_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(DatasetVersion).where(DatasetVersion.id == version_id)).mappings().first()
        return dict(row) if row else None

    def add_model_version(self, row: dict[str, Any]) -> bool:
        """Record a model version (its id derives from its inputs, so the same training twice is one version)."""
        with self.engine.begin() as conn:
            result = conn.execute(self._insert_ignore(ModelVersion), [row])
            return bool(result.rowcount)

    def model_version(self, version_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ModelVersion).where(ModelVersion.id == version_id)).mappings().first()
        return dict(row) if row else None

    def model_versions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ModelVersion).order_by(ModelVersion.created_at, ModelVersion.id)).mappings()
            return [dict(r) for r in rows.all()]

    def serving_model_version(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ModelVersion).where(ModelVersion.status == "serving")).mappings().first()
        return dict(row) if row else None

    def set_serving(self, version_id: str) -> None:
        """Make ``version_id`` the serving model; the previous one is retired (one transaction)."""
        with self.engine.begin() as conn:
            conn.execute(update(ModelVersion).where(ModelVersion.status == "serving").values(status="retired"))
            conn.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(status="serving"))

    # ---- predictions -----------------------------------------------------------------------------------------
    def add_predictions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert predictions; one per (item, model version): a repeated pre-label run writes nothing twice."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            before = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
            conn.execute(self._insert_ignore(Prediction), list(rows))
            after = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
        return int(after - before)

    def predictions(self, model_version_id: str) -> list[dict[str, Any]]:
        stmt = select(Prediction).where(Prediction.model_version_id == model_version_id).order_by(Prediction.item_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    def predicted_item_ids(self, model_version_id: str) -> set[int]:
        stmt = select(Prediction.item_id).where(Prediction.model_version_id == model_version_id)
        with self.engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(stmt)}

    # ---- rounds ----------------------------------------------------------------------------------------------
    def add_round(self, row: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(insert(Round).values(**row)).inserted_primary_key[0])  # type: ignore[index]

    def round(self, round_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(Round).where(Round.id == round_id)).mappings().first()
        return dict(row) if row else None

    def rounds(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(Round).order_by(Round.id)).mappings().all()]

    def set_round_state(self, round_id: int, state: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Round).where(Round.id == round_id).values(state=state, **values))

    # ---- Label Studio sync -----------------------------------------------------------------------------------
    def add_pushed_tasks(self, rows: Sequence[dict[str, Any]]) -> int:
        """Record pushed tasks; a task already recorded (re-push after a crash) is kept once."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            before = conn.execute(select(func.count()).select_from(PushedTask)).scalar_one()
            conn.execute(self._insert_ignore(PushedTask), list(rows))
            after = conn.execute(select(func.count()).select_from(PushedTask)).scalar_one()
        return int(after - before)

    def pushed_tasks(self, ls_project_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(PushedTask).order_by(PushedTask.id)
        if ls_project_id is not None:
            stmt = stmt.where(PushedTask.ls_project_id == ls_project_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    def get_sync(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(SyncState.value).where(SyncState.name == name)).scalar_one_or_none()

    def ls_events_for_tasks(self, ls_project_id: int, task_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Label events recorded from Label Studio for these tasks (to tell new, edited and deleted annotations)."""
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for i in range(0, len(task_ids), _IN_BATCH):
                part = task_ids[i : i + _IN_BATCH]
                stmt = (
                    select(LabelEvent)
                    .where(LabelEvent.ext_project_id == ls_project_id, LabelEvent.ext_task_id.in_(part))
                    .order_by(LabelEvent.id)
                )
                out.extend(dict(r) for r in conn.execute(stmt).mappings().all())
        return out

    def record_pull(self, events: Sequence[dict[str, Any]], cursor_name: str, cursor: str) -> int:
        """Append pulled label events and advance the pull cursor in ONE transaction: a crash leaves neither."""
        with self.engine.begin() as conn:
            if events:
                self._insert_events(conn, events)
            self._put_sync(conn, cursor_name, cursor)
        return len(events)

    def put_sync(self, name: str, value: str) -> None:
        """Set a named sync value (a cursor, the cycle's resume state) in its own transaction."""
        with self.engine.begin() as conn:
            self._put_sync(conn, name, value)

    def label_state(self) -> tuple[int, int, int]:
        """(label events, highest event id, items): label events are append-only, so an unchanged triple means the
        labels and the pool are unchanged (the cycle's cheap "anything new to train on?" check)."""
        with self.engine.connect() as conn:
            n, top = conn.execute(select(func.count(), func.coalesce(func.max(LabelEvent.id), 0))).one()
            n_items = conn.execute(select(func.count()).select_from(Item)).scalar_one()
        return int(n), int(top), int(n_items)

    def record_promotion(self, version_id: str, decision: dict[str, Any], *, serve: bool) -> None:
        """Append a promotion decision (both scores, margin, outcome) to the candidate's metrics JSON and, with
        ``serve``, make it the serving model, in ONE transaction: a crash leaves neither or both."""
        with self.engine.begin() as conn:
            metrics = conn.execute(select(ModelVersion.metrics).where(ModelVersion.id == version_id)).scalar_one()
            updated = {**(metrics or {}), "promotion": [*(metrics or {}).get("promotion", []), decision]}
            conn.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(metrics=updated))
            if serve:
                conn.execute(update(ModelVersion).where(ModelVersion.status == "serving").values(status="retired"))
                conn.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(status="serving"))

    def _put_sync(self, conn: Connection, name: str, value: str) -> None:
        exists = conn.execute(select(SyncState.name).where(SyncState.name == name)).first()
        if exists:
            conn.execute(update(SyncState).where(SyncState.name == name).values(value=value, updated_at=utcnow()))
        else:
            conn.execute(insert(SyncState).values(name=name, value=value))

    # ---- summaries -------------------------------------------------------------------------------------------
    def counts(self) -> StoreCounts:
        with self.engine.connect() as conn:
            n_items = conn.execute(select(func.count()).select_from(Item)).scalar_one()
            by_split = dict(conn.execute(select(Item.split, func.count()).group_by(Item.split)).all())
            n_quar = conn.execute(select(func.count()).select_from(Quarantine)).scalar_one()
            by_reason = dict(conn.execute(select(Quarantine.reason, func.count()).group_by(Quarantine.reason)).all())
            n_events = conn.execute(select(func.count()).select_from(LabelEvent)).scalar_one()
            n_runs = conn.execute(select(func.count()).select_from(IngestRun)).scalar_one()
        labels = self.current_labels()
        by_class: dict[str, int] = {}
        for label in labels.values():
            by_class[label] = by_class.get(label, 0) + 1
        return StoreCounts(
            items=int(n_items),
            items_by_split={str(k) if k is not None else "none": int(v) for k, v in by_split.items()},
            quarantined=int(n_quar),
            quarantine_by_reason={str(k): int(v) for k, v in by_reason.items()},
            label_events=int(n_events),
            labelled_items=len(labels),
            labels_by_class=dict(sorted(by_class.items())),
            ingest_runs=int(n_runs),
        )

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _insert_ignore(self, model: type) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(model).on_conflict_do_nothing()
        if dialect == "postgresql":
            return postgresql.insert(model).on_conflict_do_nothing()
        raise NotImplementedError(f"insert-or-ignore is not implemented for {dialect!r}")


class BulkImport:
    """Import chunks (:class:`ImportBatch`) and quarantine rows through ONE connection whose transaction spans as
    many chunks as the caller likes: :meth:`commit` ends it, the next call opens another.

    Why: with a commit per 20,000-row chunk, SQLite rewrites every page of the random-keyed identity index that the
    chunk touched into the WAL and checkpoints (and fsyncs) after each commit; a transaction over many chunks pays
    that once. Every chunk's items and events still land in the same transaction, so a rollback drops both.
    Use as a context manager: a clean exit commits, an exception rolls back the uncommitted chunks.

    Journal: while it imports, a file store runs in SQLite's rollback journal instead of WAL when this is the only
    connection to it (leaving WAL needs that), and goes back to WAL on :meth:`close`. Pages appended to the file need
    no journal copy, where WAL writes every page twice (to the WAL, then at the checkpoint): bench/ingest.md measures
    both. Both journals are durable; a crash mid-import leaves a hot journal that the next connection rolls back to
    the last commit. Readers still read during the import (they wait only while a commit writes); a connection
    opened meanwhile follows the file's journal and returns to WAL with it. When another connection has the store
    open, the import stays in WAL. ``journal`` says which ran ("rollback", "wal", or "" before the first chunk).
    """

    def __init__(self, store: Store, *, cache_mib: int) -> None:
        self._store = store
        self._cache_mib = cache_mib
        self._default_cache: int | None = None
        self._conn: Connection | None = None
        self.journal = ""
        self.cpu_seconds: Counter[str] = Counter()  # this object's SQLite work per step: where a bulk ingest goes

    def __enter__(self) -> BulkImport:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(commit=exc_type is None)

    def _open(self) -> Connection:
        """This import's connection, in the rollback journal if it could leave WAL (see the class docstring)."""
        engine = self._store.engine
        file_store = _sqlite_path(engine.url.render_as_string(hide_password=False)) is not None
        if file_store:
            engine.dispose()  # this process's idle pooled connections would keep the WAL open
        conn = engine.connect()
        raw = conn.connection.driver_connection
        self.journal = str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if file_store and self.journal == "wal":
            try:
                raw.execute("PRAGMA journal_mode=DELETE")
                self.journal = "rollback"
            except sqlite3.OperationalError as err:  # another connection has the store open: fails at once
                log.info("bulk import stays in WAL: another connection has the store open (%s)", err)
        return conn

    def _back_to_wal(self, raw: Any) -> None:
        """Switch the store back to WAL; a reader in the middle of a read blocks that for a moment, so retry."""
        deadline = time.monotonic() + self._store.busy_timeout_s
        while True:
            try:
                raw.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if time.monotonic() >= deadline:
                    # Not lost: the next connection opened switches it back (db.py's connect hook).
                    log.warning("store left in the rollback journal after a bulk import: %s", err)
                    return
                time.sleep(0.05)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._open()
            # A bigger page cache keeps more of the random-keyed identity index in memory during the import
            # (fewer pages spilled to disk and read back); bounded, and only for this connection.
            raw = self._conn.connection.driver_connection
            self._default_cache = raw.execute("PRAGMA cache_size").fetchone()[0]
            raw.execute(f"PRAGMA cache_size=-{int(self._cache_mib) * 1024}")
        if not self._conn.in_transaction():
            self._conn.begin()
            # Take SQLite's write lock now, not at the first INSERT: from here on no other writer can add items, which
            # lets :func:`_sqlite_import` know the ids of a chunk whose rows were all new without reading them back.
            self._conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
        return self._conn

    def add(self, batch: ImportBatch) -> ImportCounts:
        """As :meth:`Store.import_batch`, inside the open transaction."""
        return _sqlite_import(self._connection(), batch, self.cpu_seconds, write_locked=True)

    def add_quarantine(self, rows: Sequence[dict[str, Any]]) -> int:
        """As :meth:`Store.add_quarantine`, inside the open transaction (a second connection would wait for ours)."""
        return self._store._add_quarantine(self._connection(), rows) if rows else 0

    def commit(self) -> None:
        if self._conn is not None and self._conn.in_transaction():
            t0 = time.thread_time()
            self._conn.commit()  # WAL write of the dirty pages left, then (past 1000 WAL pages) a checkpoint
            self.cpu_seconds["commit"] += time.thread_time() - t0

    def rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction():
            self._conn.rollback()

    def close(self, *, commit: bool) -> None:
        """Commit (or roll back) what is open and give the connection back to the pool."""
        if self._conn is None:
            return
        try:
            if commit:
                self.commit()
            else:
                self.rollback()
        finally:
            try:
                raw = self._conn.connection.driver_connection
                if self.journal == "rollback":
                    self._back_to_wal(raw)
                if self._default_cache is not None:
                    raw.execute(f"PRAGMA cache_size={int(self._default_cache)}")
            except Exception:  # a connection we cannot reset is not given back to the pool
                self._conn.invalidate()
            self._conn.close()
            self._conn = None


def as_utc(dt: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; the store always writes UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own storage format for DateTime on SQLite


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC) if dt.tzinfo is not None else dt


def _sqlite_import(
    conn: Connection, batch: ImportBatch, cpu: Counter[str] | None = None, *, write_locked: bool = False
) -> ImportCounts:
    """The body of :meth:`Store.import_batch`, inside the caller's transaction; adds this thread's CPU seconds per
    step (items, ids, events) to ``cpu`` if given. ``write_locked``: the transaction already holds SQLite's write
    lock (BEGIN IMMEDIATE), so no other writer can add items while this runs."""
    if not batch.lines:
        return ImportCounts(0, 0)
    now = _sqlite_literal(utcnow().strftime(_SQLITE_TS))
    keys = batch.identity_keys if batch.identity_keys is not None else identity_keys(batch.identity_hashes)
    items_sql, rows = _items_insert(batch, keys, now)
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    before = cur.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0]
    t0 = time.thread_time()
    cur.executemany(items_sql, rows)
    t1 = time.thread_time()
    collisions: list[tuple[int, int]] = []
    if write_locked and cur.execute("SELECT max(id) FROM items").fetchone()[0] == before + len(batch.lines):
        # Every row was new (no other writer can insert under our lock), and SQLite gives a new row max(id) + 1:
        # the chunk's ids are before + 1, before + 2, ... in file order. No read-back, no lookups.
        added = len(batch.lines)
        t2 = time.thread_time()
        n_events = _fast_import_events(cur, batch, before, now)
    else:
        # Ids only grow in SQLite; the run id keeps out rows another writer added meanwhile.
        sql = "SELECT source_line, id FROM items WHERE id > ? AND ingest_run_id = ?"
        new = dict(cur.execute(sql, (before, batch.run_id)).fetchall())
        added = len(new)
        item_of, collisions = _skipped_rows(cur, batch, keys, new)
        events = _new_import_events(cur, batch, new, item_of, before)
        t2 = time.thread_time()
        cur.executemany(
            "INSERT INTO label_events (item_id, label, source, annotator, tool, tool_version, external_id, "
            f"event_at, recorded_at, extra) VALUES (?, ?, 'import', {_sqlite_literal(batch.annotator)}, "
            f"{_sqlite_literal(batch.tool)}, {_sqlite_literal(batch.tool_version)}, ?, {now}, {now}, '{{}}')",
            events,
        )
        n_events = len(events)
    cur.close()
    if cpu is not None:
        cpu["items"] += t1 - t0
        cpu["ids"] += t2 - t1
        cpu["events"] += time.thread_time() - t2
    return ImportCounts(items_added=added, label_events_added=n_events, collisions=tuple(collisions))


def _items_insert(batch: ImportBatch, keys: Sequence[int], now: str) -> tuple[str, Iterable[tuple[Any, ...]]]:
    """The items INSERT (a key already held: nothing) and its parameter rows.

    Columns with one value for the whole batch are written into the SQL as literals, not bound per row: binding
    costs Python time per row (four such columns bound as parameters made the items insert about 1.7 µs/row
    slower, a third of it; bench/ingest.md)."""
    metadata = ["{}" if not m else json.dumps(m) for m in batch.metadata] if batch.metadata else None
    varying: dict[str, Sequence[Any]] = {
        "identity_hash": batch.identity_hashes,
        "identity_key": keys,
        "content_hash": batch.content_hashes,
        "text": batch.texts,
        "source_line": batch.lines,
    }
    constant = {
        "kind": "'text'",
        "source": _sqlite_literal(batch.source),
        "ingest_run_id": str(int(batch.run_id)),
        "redactions": "'{}'",
        "ingested_at": now,
    }
    for name, values, empty in (
        ("original_text", batch.original_texts, None),
        ("external_id", batch.external_ids, None),
        ("split", batch.splits, None),
        ("metadata", metadata, "{}"),
    ):
        if values is None or all(v == empty for v in values):
            constant[name] = _sqlite_literal(empty)
        else:
            varying[name] = values
    sql = (
        f"INSERT INTO items ({', '.join([*varying, *constant])}) "
        f"VALUES ({', '.join(['?'] * len(varying) + list(constant.values()))}) ON CONFLICT (identity_key) DO NOTHING"
    )
    return sql, zip(*varying.values(), strict=True)


def _fast_import_events(cur: Any, batch: ImportBatch, before: int, now: str) -> int:
    """Insert the import events of a chunk whose rows were all new (item ids ``before + 1 ...`` in file order) in
    one statement: SQLite builds the rows from a JSON array of label codes and the items just written, instead of
    Python binding three values per row (about 1 µs/row less; bench/ingest.md). Returns how many it inserted."""
    names: dict[str, int] = {}
    codes = [None if label is None else names.setdefault(label, len(names)) for label in batch.labels]
    if not names:
        return 0
    cur.execute(
        "INSERT INTO label_events (item_id, label, source, annotator, tool, tool_version, external_id, event_at, "
        f"recorded_at, extra) SELECT i.id, json_extract(:names, '$[' || j.value || ']'), 'import', "
        f"{_sqlite_literal(batch.annotator)}, {_sqlite_literal(batch.tool)}, {_sqlite_literal(batch.tool_version)}, "
        f":prefix || i.source_line, {now}, {now}, '{{}}' "
        "FROM json_each(:codes) AS j JOIN items AS i ON i.id = :first + j.key "
        "WHERE j.value IS NOT NULL ORDER BY j.key",
        {
            "names": json.dumps(list(names)),
            "prefix": batch.event_prefix,
            "codes": json.dumps(codes),
            "first": before + 1,
        },
    )
    return len(codes) - codes.count(None)


def _select_in(cur: Any, sql: str, values: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql``, whose ``{marks}`` is an IN list, over ``values`` in slices SQLite accepts."""
    for i in range(0, len(values), _IN_BATCH):
        part = values[i : i + _IN_BATCH]
        yield from cur.execute(sql.format(marks=",".join("?" * len(part))), part)


def _skipped_rows(
    cur: Any, batch: ImportBatch, keys: Sequence[int], new: dict[int, int]
) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """The rows the INSERT skipped (their key was held by a stored item or an earlier row of this batch): with the
    same full hash, a duplicate of that item (``{row position: item id}``); with another hash, a key collision
    (``[(row position, id of the item holding the key)]``), which the caller reports and does not add."""
    skipped = [i for i, line in enumerate(batch.lines) if line not in new]
    sql = "SELECT identity_key, identity_hash, id FROM items WHERE identity_key IN ({marks})"
    holder = {k: (h, item_id) for k, h, item_id in _select_in(cur, sql, list({keys[i] for i in skipped}))}
    item_of: dict[int, int] = {}
    collisions: list[tuple[int, int]] = []
    for i in skipped:
        stored, item_id = holder[keys[i]]
        if stored == batch.identity_hashes[i]:
            item_of[i] = item_id
        else:
            collisions.append((i, item_id))
    return item_of, collisions


def _new_import_events(
    cur: Any, batch: ImportBatch, new: dict[int, int], item_of: dict[int, int], before: int
) -> list[tuple[int, str, str]]:
    """(item id, label, external id) of each labelled row's import event, in file order, leaving out those already
    recorded: only items that existed before this batch (id <= ``before``) can have them."""
    prefix = batch.event_prefix
    events: list[tuple[int, str, str]] = []
    old: list[tuple[int, str, str]] = []
    for i, (line, label) in enumerate(zip(batch.lines, batch.labels, strict=True)):
        if label is None:
            continue
        if (item_id := new.get(line)) is not None:
            events.append((item_id, label, f"{prefix}{line}"))
        elif (item_id := item_of.get(i)) is not None:
            (old if item_id <= before else events).append((item_id, label, f"{prefix}{line}"))
    if old:
        sql = "SELECT item_id, external_id FROM label_events WHERE source = 'import' AND item_id IN ({marks})"
        seen = set(_select_in(cur, sql, list({item_id for item_id, _, _ in old})))
        events.extend(e for e in old if (e[0], e[2]) not in seen)
        events.sort(key=lambda e: int(e[2][len(prefix) :]))
    return events


def _sqlite_literal(value: str | None) -> str:
    """A constant as an SQL literal, so ``executemany`` binds only what varies per row."""
    if value is None:
        return "NULL"
    if "\x00" in value:
        raise ValueError(f"NUL character in a value written to the store: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def _orm_attribute_names(table: Table) -> dict[str, str]:
    """``{column key: ORM attribute name}`` for the mapped class of ``table``."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return {col.key: prop.key for prop in mapper.column_attrs for col in prop.columns}
    return {}


def _sqlite_bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """executemany straight through the DBAPI: SQLAlchemy's per-row parameter processing costs more than SQLite.

    Values are converted column by column as SQLAlchemy would (JSON text, its datetime format); Python-side column
    defaults are applied here, once per batch.
    """
    now = utcnow().strftime(_SQLITE_TS)
    first = rows[0]
    attrs = _orm_attribute_names(table)
    names: list[str] = []
    columns: list[list[Any]] = []
    for c in table.columns:
        # Rows may name a column by its ORM attribute (Item.meta is the column "metadata"), as insert(Item) allows.
        key = c.key if c.key in first else attrs.get(c.key, c.key)
        if c.primary_key and key not in first:
            continue
        values = [r.get(key) for r in rows]
        if isinstance(c.type, JSON):
            values = ["{}" if not v else json.dumps(v) for v in values]
        elif isinstance(c.type, DateTime):
            values = [now if v is None else _utc(v).strftime(_SQLITE_TS) for v in values]
        elif c.default is not None and not callable(c.default.arg):
            d = c.default.arg
            values = [d if v is None else v for v in values]
        names.append(c.name)
        columns.append(values)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
