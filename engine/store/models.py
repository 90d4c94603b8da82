"""The label store's tables (SQLAlchemy 2.x declarative models).

The schema itself is created and changed only by the Alembic migrations in ``migrations/versions``; these classes
describe it for queries. ``label_events`` is append-only: the store offers no update or delete for it and the
database refuses both (triggers installed by the first migration).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class IngestRun(Base):
    """One ingest of one source file: what came in and where every row went."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(16))
    file_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    items_added: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    labels_imported: Mapped[int] = mapped_column(Integer, default=0)
    redacted_entities: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Item(Base):
    """An item to label. ``text`` is the redacted text: what models see and what humans see."""

    __tablename__ = "items"
    __table_args__ = (Index("ux_items_identity_key", "identity_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_hash: Mapped[str] = mapped_column(String(64))  # keyed BLAKE2b of the normalised original
    # The hash's first 64 bits (engine.ingest.identity.identity_key): the unique index is on this 8-byte key, the
    # full hash is compared when a key matches (a different hash there is a collision, quarantined at ingest).
    identity_key: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the redacted text (embedding cache key)
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text | image
    text: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)  # images and other media: where the bytes are
    original_text: Mapped[str | None] = mapped_column(Text)  # only if the config says store_original_text
    external_id: Mapped[str | None] = mapped_column(String(255))  # no index: nothing looks items up by it
    split: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    source_line: Mapped[int] = mapped_column(Integer)
    ingest_run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    redactions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # entity type -> count replaced
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class Quarantine(Base):
    """A row that could not become an item, with where it was and why. Nothing is dropped silently."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "line", "raw_sha256", "reason", name="uq_quarantine_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingest_run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))
    source: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    raw_excerpt: Mapped[str] = mapped_column(Text)  # redacted like items, cut to a few hundred characters
    raw_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    """A trained model: encoder, head, the dataset version it learnt from, its metrics and artifact."""

    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    encoder_fingerprint: Mapped[str] = mapped_column(String(64))
    head: Mapped[str] = mapped_column(String(64))
    head_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    train_identity: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate | serving | retired
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Prediction(Base):
    """A pre-label: one model version's class probabilities for one item."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("item_id", "model_version_id", name="uq_prediction_item_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    label: Mapped[str] = mapped_column(String(255))
    score: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, in task label order
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Round(Base):
    """One selection round: which strategy with which parameters and seed picked which items."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer)
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    picked_item_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"item_ids": [...]}
    state: Mapped[str] = mapped_column(String(16), default="selected")  # selected|pushed|pulled|closed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pushed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class LabelEvent(Base):
    """One labelling act, append-only. An item's current label is derived from its events, never stored over them.

    ``source`` is one of import | human | model | gold | adjudication; ``retracts_event_id`` marks an event that
    withdraws an earlier one (a deleted annotation) instead of deleting it.
    """

    __tablename__ = "label_events"
    __table_args__ = (
        Index("ix_label_events_item", "item_id"),
        # Partial: not import events (one per labelled source row, looked up by item instead; migration 0006).
        Index(
            "ix_label_events_ext",
            "source",
            "external_id",
            sqlite_where=text("source <> 'import'"),
            postgresql_where=text("source <> 'import'"),
        ),
        # Partial: only events with a Label Studio task (import events have none; migration 0004).
        Index(
            "ix_label_events_ext_task",
            "ext_project_id",
            "ext_task_id",
            sqlite_where=text("ext_task_id IS NOT NULL"),
            postgresql_where=text("ext_task_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    label: Mapped[str | None] = mapped_column(String(255))  # None: a skip or a retraction
    source: Mapped[str] = mapped_column(String(16))
    annotator: Mapped[str | None] = mapped_column(String(255))
    tool: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(255))  # e.g. "import:trec.csv#L12", "ls:task/annotation"
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    model_version_id: Mapped[str | None] = mapped_column(String(64))  # model behind the pre-label / auto-label
    prelabel: Mapped[str | None] = mapped_column(String(255))
    prelabel_accepted: Mapped[bool | None] = mapped_column(Boolean)
    confidence: Mapped[float | None] = mapped_column(Float)
    lead_time_s: Mapped[float | None] = mapped_column(Float)
    retracts_event_id: Mapped[int | None] = mapped_column(ForeignKey("label_events.id"))
    # Label Studio ids (tool=label-studio): which task and annotation, and the annotation's updated_at that this
    # event records (an edit is a new event with a later updated_at).
    ext_project_id: Mapped[int | None] = mapped_column(Integer)
    ext_task_id: Mapped[int | None] = mapped_column(Integer)
    ext_annotation_id: Mapped[int | None] = mapped_column(Integer)
    # The taxonomy version the label was made under (None: before any was recorded, or not known to the writer;
    # read as the version current when the event was recorded).
    taxonomy_version: Mapped[str | None] = mapped_column(String(64))
    event_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the label was made (tool's clock)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the store learnt of it
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PushedTask(Base):
    """An item pushed to a Label Studio project as a task, with the pre-label it was shown with."""

    __tablename__ = "pushed_tasks"
    # One item may have several tasks in a project: a taxonomy split re-queues its items as fresh tasks.
    __table_args__ = (UniqueConstraint("ls_project_id", "task_id", name="uq_pushed_task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    ls_project_id: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[int] = mapped_column(Integer)
    prelabel_model_version: Mapped[str | None] = mapped_column(String(64))
    prelabel: Mapped[str | None] = mapped_column(String(255))
    prelabel_score: Mapped[float | None] = mapped_column(Float)
    pushed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """Named cursors of incremental syncs (e.g. the Label Studio pull cursor of one project)."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersion(Base):
    """An immutable, content-addressed snapshot of (item, resolved label, how it was resolved)."""

    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the manifest
    resolution_rule: Mapped[str] = mapped_column(String(64))
    n_items: Mapped[int] = mapped_column(Integer)
    manifest_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class TaxonomyVersion(Base):
    """One version of the label taxonomy: its schema (labels with definitions, examples, parents; guidelines) and
    the migration that led to it from ``parent_id``. Append-only; the id is content-addressed (schema, migration,
    parent), so recording the same change twice is one version."""

    __tablename__ = "taxonomy_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("taxonomy_versions.id"))
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # 0, 1, 2, ... in the order the versions were recorded
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    migration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


LABEL_SOURCES = ("import", "human", "model", "gold", "adjudication")
