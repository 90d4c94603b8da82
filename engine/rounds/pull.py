"""Pulling annotations back: incremental by the server's ``updated_at`` cursor, idempotent, complete.

Each annotation version becomes one append-only label event, keyed ``ls:<project>:<task>:<annotation>:<updated_at>``:

- a new annotation → an event (``source=human``) with annotator, times, lead time, tool and version, the
  pre-label it started from and whether it was kept;
- an edited annotation (same id, later ``updated_at``) → a new event; the history keeps both;
- a deleted annotation (an id the store knows that the task no longer has) → retraction events, one per recorded
  event of it, so the item's current label falls back to what it was before;
- a skipped (cancelled) task → an event with no label and ``extra.skipped``: an explicit state, never a drop;
- several annotators on one task → one event each;
- an answer flagged "ambiguous / guideline unclear" → an event with no label and ``extra.ambiguous`` (with the
  annotator's comment and any label they ticked anyway as ``extra.tentative_label``): it never counts as a class
  label, it feeds the triage queue.

Every event names the taxonomy version current at the pull (recorded first if none is).

Events and the new cursor are written in one transaction; pulling again with nothing changed writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.server import LABEL_STUDIO_VERSION
from labelloop.connectors.labelstudio.types import PulledAnnotation, PulledTask
from labelloop.engine.config import ProjectConfig
from labelloop.engine.labelstudio import ensure_project, ensure_review_project
from labelloop.engine.store import Store
from labelloop.engine.taxonomy.history import ensure_recorded

log = logging.getLogger(__name__)

TOOL = "label-studio"


@dataclass
class PullResult:
    ls_project_id: int
    changed_tasks: int = 0
    new: int = 0
    edited: int = 0
    deleted: int = 0
    skipped: int = 0
    unmatched_tasks: int = 0
    annotators: list[str] = field(default_factory=list)
    events_written: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ext_id(project_id: int, ann: PulledAnnotation) -> str:
    return f"ls:{project_id}:{ann.task_id}:{ann.annotation_id}:{ann.updated_at.isoformat()}"


def pull(store: Store, client: LabelStudioClient, cfg: ProjectConfig, *, review: bool = False) -> PullResult:
    """Pull the labeling project, or with ``review`` the reviewers' project, whose decisions become events with
    ``source=adjudication``."""
    project_id = ensure_review_project(client, cfg) if review else ensure_project(client, cfg)
    taxonomy_version = ensure_recorded(store, cfg).id
    source = "adjudication" if review else "human"
    cursor_name = f"labelstudio:{project_id}:pull"
    cursor = store.get_sync(cursor_name)
    tasks, new_cursor = client.pull_changes(project_id, cursor)  # raises before anything is written
    result = PullResult(ls_project_id=project_id, changed_tasks=len(tasks))

    pushed = {t["task_id"]: t for t in store.pushed_tasks(project_id)}
    item_ids = store.existing_item_ids([t.item_id for t in tasks])
    known = store.ls_events_for_tasks(project_id, [t.task_id for t in tasks])
    known_ext = {e["external_id"] for e in known}
    by_annotation: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    retracted = {e["retracts_event_id"] for e in known if e["retracts_event_id"] is not None}
    for e in known:
        if e["ext_annotation_id"] is not None and e["retracts_event_id"] is None:
            by_annotation[(e["ext_task_id"], e["ext_annotation_id"])].append(e)

    events: list[dict[str, Any]] = []
    annotators: set[str] = set()
    for task in tasks:
        if task.item_id not in item_ids:
            result.unmatched_tasks += 1
            log.warning("pull: task %d names item %s, which this store does not have", task.task_id, task.item_id)
            continue
        push = pushed.get(task.task_id)
        present = {a.annotation_id for a in task.annotations}
        for ann in task.annotations:
            ext = _ext_id(project_id, ann)
            if ext in known_ext:
                continue
            known_ext.add(ext)
            if (task.task_id, ann.annotation_id) in by_annotation:
                result.edited += 1
            elif ann.was_cancelled:
                result.skipped += 1
            else:
                result.new += 1
            annotator = ann.annotator_email or (f"ls-user:{ann.annotator_id}" if ann.annotator_id else None)
            if annotator:
                annotators.add(annotator)
            events.append(_annotation_event(project_id, task, ann, push, annotator, ext, source, taxonomy_version))
        for (task_id, ann_id), evs in by_annotation.items():
            if task_id != task.task_id or ann_id in present:
                continue
            live = [e for e in evs if e["id"] not in retracted]
            if live:
                result.deleted += 1
            for e in live:
                events.append(
                    {
                        "item_id": e["item_id"],
                        "label": None,
                        "source": source,
                        "annotator": e["annotator"],
                        "tool": TOOL,
                        "tool_version": LABEL_STUDIO_VERSION,
                        "external_id": f"ls:{project_id}:{task_id}:{ann_id}:deleted:{e['id']}",
                        "round_id": e["round_id"],
                        "retracts_event_id": e["id"],
                        "ext_project_id": project_id,
                        "ext_task_id": task_id,
                        "ext_annotation_id": ann_id,
                        "taxonomy_version": taxonomy_version,
                        "extra": {"deleted": True},
                    }
                )
    result.events_written = store.record_pull(events, cursor_name, new_cursor)
    result.annotators = sorted(annotators)
    if not review:
        _close_finished_rounds(store, project_id)
    log.info("pull project=%d %s", project_id, {k: v for k, v in result.as_dict().items() if k != "annotators"})
    return result


def _annotation_event(
    project_id: int,
    task: PulledTask,
    ann: PulledAnnotation,
    push: dict[str, Any] | None,
    annotator: str | None,
    ext: str,
    source: str,
    taxonomy_version: str | None = None,
) -> dict[str, Any]:
    label = None if ann.was_cancelled or ann.ambiguous else ann.label
    prelabel = ann.prediction_label or (push["prelabel"] if push else None)
    version = ann.prediction_model_version or (push["prelabel_model_version"] if push else None)
    return {
        "item_id": task.item_id,
        "label": label,
        "source": source,
        "annotator": annotator,
        "tool": TOOL,
        "tool_version": LABEL_STUDIO_VERSION,
        "external_id": ext,
        "round_id": push["round_id"] if push else None,
        "model_version_id": version,
        "prelabel": prelabel,
        "prelabel_accepted": (label == prelabel) if label is not None and prelabel is not None else None,
        "lead_time_s": ann.lead_time_s,
        "event_at": ann.updated_at,
        "ext_project_id": project_id,
        "ext_task_id": task.task_id,
        "ext_annotation_id": ann.annotation_id,
        "taxonomy_version": taxonomy_version,
        "extra": {
            "created_at": ann.created_at.isoformat(),
            "updated_at": ann.updated_at.isoformat(),
            "skipped": ann.was_cancelled,
            "ground_truth": ann.ground_truth,
            "prelabel_score": ann.prediction_score
            if ann.prediction_score is not None
            else (push["prelabel_score"] if push else None),
            **({"ambiguous": True, "tentative_label": ann.label} if ann.ambiguous else {}),
            **({"comment": ann.comment} if ann.comment else {}),
        },
    }


def _close_finished_rounds(store: Store, project_id: int) -> None:
    """A pushed round whose every item has a human event (a label or a skip) becomes ``pulled``."""
    open_rounds = [r for r in store.rounds() if r["state"] == "pushed"]
    if not open_rounds:
        return
    wanted = {i for r in open_rounds for i in r["picked_item_ids"]["item_ids"]}
    tasks = [t["task_id"] for t in store.pushed_tasks(project_id) if t["item_id"] in wanted]
    events = store.ls_events_for_tasks(project_id, tasks)
    answered = {e["item_id"] for e in events if e["retracts_event_id"] is None}
    for rnd in open_rounds:
        if set(rnd["picked_item_ids"]["item_ids"]) <= answered:
            store.set_round_state(rnd["id"], "pulled")
