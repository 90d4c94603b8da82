"""Changing the label set: one explicit migration, checked against the config, the store and Label Studio.

Order: edit the YAML (the new taxonomy), then ``labelloop taxonomy migrate KIND ...`` (this module), which

1. checks that the migration turns the recorded label set into the config's (else :class:`TaxonomyError`);
2. refuses to retire a label still in use without a target (store events or Label Studio annotations);
3. updates the Label Studio project (labels, hints, instructions), which itself refuses to drop a label that
   annotations use unless the migration maps it;
4. records the new version;
5. for a split, re-queues the affected items: a round (strategy ``taxonomy-requeue``) and fresh tasks in Label
   Studio, so annotators label them again under the new labels.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.types import TaskToPush
from labelloop.engine.config import ProjectConfig
from labelloop.engine.store import Store
from labelloop.engine.store.models import utcnow
from labelloop.engine.taxonomy.guidelines import label_hints, render_instructions
from labelloop.engine.taxonomy.history import TaxonomyHistory, record_version
from labelloop.engine.taxonomy.schema import Migration, Schema, TaxonomyError, version_id

log = logging.getLogger(__name__)

REQUEUE_STRATEGY = "taxonomy-requeue"


@dataclass
class MigrationResult:
    version: str
    previous: str
    migration: dict[str, Any]
    labels: list[str]
    dropped: list[str] = field(default_factory=list)
    requeued_items: list[int] = field(default_factory=list)
    requeue_round: int | None = None
    ls_project_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_project(
    client: LabelStudioClient,
    cfg: ProjectConfig,
    project_id: int,
    *,
    mapped: tuple[str, ...] = (),
    version: str | None = None,
) -> list[str]:
    """Push the config's taxonomy to the Label Studio project: labels, hints, triage controls, instructions."""
    schema = Schema.from_task(cfg.task)
    return client.update_labels(
        project_id,
        cfg.task.labels,
        hints=label_hints(schema),
        instruction=render_instructions(schema, version=version),
        mapped=mapped,
    )


def migrate(
    store: Store,
    cfg: ProjectConfig,
    migration: Migration,
    *,
    client: LabelStudioClient | None = None,
) -> MigrationResult:
    """Apply ``migration`` (see the module docstring); ``client`` None changes the store only."""
    from labelloop.engine.labelstudio import ensure_project_for_migration
    from labelloop.engine.quality.votes import live_labels

    history = TaxonomyHistory.load(store)
    if history.current is None:
        # No version recorded yet: the one before this migration is the config's label set with it undone.
        prior = migration.invert(cfg.task.labels)
        record_version(
            store, Schema.bare(prior), Migration("init", note="recorded at the first migration"), parent=None
        )
        history = TaxonomyHistory.load(store)
    cur = history.current
    if cur is None:
        raise TaxonomyError("no taxonomy version recorded")  # unreachable: one was just recorded
    expected = migration.apply(cur.schema.names)
    if expected != set(cfg.task.labels):
        raise TaxonomyError(
            f"task.labels: {migration.kind} {list(migration.sources)} -> {list(migration.targets)} turns "
            f"{cur.schema.names} into {sorted(expected)}, but the config has {list(cfg.task.labels)}; edit the "
            "config's labels to match the migration"
        )
    if migration.kind == "retire" and not migration.targets:
        live = live_labels(store.label_events(), taxonomy=history)
        votes = [v for vs in live.human.values() for v in vs.values()]
        used = sum(v.label == migration.sources[0] for v in votes) + sum(
            lab == migration.sources[0]
            for src in (live.gold, live.adjudication, live.imported, live.model)
            for lab, _ in src.values()
        )
        if used:
            raise TaxonomyError(
                f"retire {migration.sources[0]!r}: {used} live labels still use it; retire it into another label "
                f"(retire {migration.sources[0]} TARGET), merge or split it"
            )
    schema = Schema.from_task(cfg.task)
    project_id: int | None = None
    dropped: list[str] = []
    mapped = tuple(migration.mapping())
    if client is not None:
        project_id = ensure_project_for_migration(client, cfg)
        upcoming = version_id(schema, migration, cur.id)
        dropped = sync_project(client, cfg, project_id, mapped=mapped, version=upcoming)
    version = record_version(store, schema, migration, parent=cur.id)
    result = MigrationResult(
        version.id, cur.id, migration.as_dict(), list(cfg.task.labels), dropped, ls_project_id=project_id
    )
    if migration.kind == "split":
        applied = TaxonomyHistory.load(store).apply(store.label_events())
        items = sorted(i for i, v in applied.requeued.items() if v == version.id)
        result.requeued_items = items
        if items:
            result.requeue_round = _requeue(store, client, project_id, items, version.id, migration)
    log.info("taxonomy migrate %s", {k: v for k, v in result.as_dict().items() if k != "requeued_items"})
    return result


def _requeue(
    store: Store,
    client: LabelStudioClient | None,
    project_id: int | None,
    items: list[int],
    version: str,
    migration: Migration,
) -> int:
    """A round holding the split's items; with a client, fresh Label Studio tasks for them (no pre-label: the
    serving model knows only the old labels)."""
    round_id = store.add_round(
        {
            "strategy": REQUEUE_STRATEGY,
            "params": {"taxonomy_version": version, "migration": migration.as_dict()},
            "seed": 0,
            "model_version_id": None,
            "picked_item_ids": {"item_ids": items},
            "state": "selected",
        }
    )
    if client is None or project_id is None:
        return round_id
    texts = {it["id"]: it["text"] for it in store.items(columns=("id", "text"))}
    mapping = client.requeue_tasks(project_id, [TaskToPush(i, texts[i]) for i in items], tag=version)
    store.add_pushed_tasks(
        [{"item_id": i, "round_id": round_id, "ls_project_id": project_id, "task_id": t} for i, t in mapping.items()]
    )
    store.set_round_state(round_id, "pushed", pushed_at=utcnow())
    return round_id
