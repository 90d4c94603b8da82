"""The taxonomy's recorded history, and what it means for labels given under older versions.

Label events are append-only, so a migration never rewrites them. Instead every read of the labels
(:func:`labelloop.engine.quality.votes.live_labels` with ``taxonomy=``) passes the events through
:meth:`TaxonomyHistory.apply`, which reads each event's label under the version it was made in and carries it
through the later migrations: a renamed or merged label reads as its new name; a split label's items are dropped
from resolution (every event made before the split) until they are labelled again.

An event names its version in ``taxonomy_version``; an event without one (made before any version was recorded, or
by a writer that does not know the taxonomy, e.g. ingest) is read under the version current when it was recorded.
A label unknown to that version (an old Label Studio annotation edited after a rename) is read from the newest
version that has it.

Use :func:`ensure_recorded` before writing events (it records the first version, and guideline-only edits), and
:func:`~labelloop.engine.taxonomy.migrate.migrate` to change the label set.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labelloop.engine.config import ProjectConfig
from labelloop.engine.store import Store
from labelloop.engine.store.repository import as_utc
from labelloop.engine.store.taxonomy import add_taxonomy_version, taxonomy_versions
from labelloop.engine.taxonomy.schema import REQUEUE, Migration, Schema, TaxonomyError, version_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    id: str
    seq: int
    schema: Schema
    migration: Migration
    created_at: dt.datetime
    parent_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "parent_id": self.parent_id,
            "labels": self.schema.names,
            "migration": self.migration.as_dict(),
            "created_at": self.created_at.isoformat(),
        }


@dataclass
class Applied:
    """Events with their labels read under the current taxonomy; ``requeued``: item → id of the version (a split)
    that sent it back for relabeling, for items with no label given since."""

    events: list[dict[str, Any]]
    requeued: dict[int, str] = field(default_factory=dict)
    renamed: int = 0  # events whose label reads differently now


@dataclass
class TaxonomyHistory:
    versions: list[Version]

    @classmethod
    def load(cls, store: Store, *, as_of: dt.datetime | None = None) -> TaxonomyHistory:
        """The recorded versions (only those recorded by ``as_of``, if given)."""
        cutoff = as_utc(as_of) if as_of is not None else None
        out = []
        for row in taxonomy_versions(store):
            if cutoff is not None and row["created_at"] > cutoff:
                continue
            out.append(
                Version(
                    row["id"],
                    int(row["seq"]),
                    Schema.from_dict(row["schema"]),
                    Migration.from_dict(row["migration"]),
                    row["created_at"],
                    row["parent_id"],
                )
            )
        return cls(out)

    @property
    def current(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    def check_config(self, cfg: ProjectConfig) -> None:
        """Raise :class:`TaxonomyError` when the config's label set is not the recorded current one: a change made
        by editing the YAML alone would silently reinterpret every label."""
        cur = self.current
        if cur is not None and sorted(cur.schema.names) != sorted(cfg.task.labels):
            raise TaxonomyError(
                f"task.labels: {list(cfg.task.labels)} differ from the store's taxonomy version {cur.id} "
                f"({cur.schema.names}); record the change as a migration: labelloop taxonomy migrate "
                "add|rename|merge|split|retire ..."
            )

    def _index_of(self, event: Mapping[str, Any]) -> int:
        ids = [v.id for v in self.versions]
        named = event.get("taxonomy_version")
        if named in ids:
            return ids.index(named)
        recorded = event.get("recorded_at")
        if not isinstance(recorded, dt.datetime):
            return 0
        stamps = [v.created_at for v in self.versions]
        return max(0, bisect.bisect_right(stamps, as_utc(recorded)) - 1)

    def read_label(self, label: str, index: int) -> tuple[str, int | None]:
        """(what ``label``, given under version ``index``, reads as now; the index of the split that sent it back
        for relabeling, or None)."""
        if label not in self.versions[index].schema.names:
            holders = [k for k, v in enumerate(self.versions) if label in v.schema.names]
            if holders:
                index = holders[-1]
        for k in range(index + 1, len(self.versions)):
            label = self.versions[k].migration.mapping().get(label, label)
            if label == REQUEUE:
                return label, k
        return label, None

    def apply(self, events: Sequence[Mapping[str, Any]]) -> Applied:
        """The events with labels read under the current version; events made before a split of an item's label
        are left out for that item (see the module docstring)."""
        if len(self.versions) < 2:
            return Applied([dict(e) for e in events])
        retracted = {e["retracts_event_id"] for e in events if e.get("retracts_event_id") is not None}
        read: list[tuple[dict[str, Any], int]] = []
        requeue_at: dict[int, int] = {}
        renamed = 0
        for e in events:
            row, index = dict(e), self._index_of(e)
            if row.get("label") is not None:
                label, split_at = self.read_label(str(row["label"]), index)
                if split_at is not None:
                    if row["id"] not in retracted and row.get("retracts_event_id") is None:
                        item = int(row["item_id"])
                        requeue_at[item] = max(requeue_at.get(item, -1), split_at)
                elif label != row["label"]:
                    row["label_as_given"] = row["label"]
                    row["label"] = label
                    renamed += 1
            read.append((row, index))
        kept = [row for row, index in read if index >= requeue_at.get(int(row["item_id"]), -1)]
        labelled_after = {
            int(row["item_id"])
            for row, index in read
            if row.get("label") is not None and index >= requeue_at.get(int(row["item_id"]), 10**9)
        }
        requeued = {i: self.versions[k].id for i, k in requeue_at.items() if i not in labelled_after}
        return Applied(kept, requeued, renamed)


def ensure_recorded(store: Store, cfg: ProjectConfig) -> Version:
    """The current version, recording the config's taxonomy first if none is recorded yet, or a new ``edit``
    version when only definitions, examples, order or guidelines changed. A changed label set raises
    :class:`TaxonomyError`: it needs an explicit migration."""
    history = TaxonomyHistory.load(store)
    schema = Schema.from_task(cfg.task)
    cur = history.current
    if cur is not None:
        history.check_config(cfg)
        if cur.schema == schema:
            return cur
        return record_version(store, schema, Migration("edit"), parent=cur.id)
    return record_version(store, schema, Migration("init"), parent=None)


def record_version(store: Store, schema: Schema, migration: Migration, *, parent: str | None) -> Version:
    vid = version_id(schema, migration, parent)
    add_taxonomy_version(
        store, {"id": vid, "parent_id": parent, "schema": schema.as_dict(), "migration": migration.as_dict()}
    )
    log.info("taxonomy version=%s migration=%s labels=%s", vid, migration.kind, schema.names)
    version = next(v for v in TaxonomyHistory.load(store).versions if v.id == vid)
    return version
