"""Pushing a round: its items, redacted, as Label Studio tasks with the serving model's pre-labels.

Re-pushing a round (after a crash half-way, or by a re-run) creates no duplicate task: the client skips items whose
``item_id`` the project already holds, and the store keeps one record per (project, item).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.types import PreLabel, TaskToPush
from labelloop.engine.config import ProjectConfig
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.rounds.budget import budget_state, require_room
from labelloop.engine.rounds.budget import now as budget_now
from labelloop.engine.store import Store
from labelloop.engine.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class PushResult:
    round_id: int
    ls_project_id: int
    tasks: int
    newly_recorded: int
    with_prelabel: int
    capped: int = 0  # items of the round left unpushed by a budget cap
    overlap_tasks: int = 0  # tasks of this round that ask for several annotators

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def overlap_cohort(item_ids: Sequence[int], *, share: float, seed: int, round_id: int) -> set[int]:
    """The items of a round that get several annotators: ``round(share × n)`` of them, drawn from the round's own
    items with a generator seeded by (round seed, round id), so a resumed or repeated push picks the same ones."""
    if not 0 <= share <= 1:
        raise ValueError(f"overlap share must be in [0, 1], got {share}")
    ids = sorted(set(item_ids))
    k = round(share * len(ids))
    if k == 0:
        return set()
    rng = np.random.default_rng([seed, round_id])
    return {int(i) for i in rng.permutation(np.asarray(ids, dtype=np.int64))[:k]}


def push_round(store: Store, client: LabelStudioClient, cfg: ProjectConfig, round_id: int) -> PushResult:
    rnd = store.round(round_id)
    if rnd is None:
        raise KeyError(f"no round {round_id}")
    item_ids: list[int] = list(rnd["picked_item_ids"]["item_ids"])
    capped = 0
    if rnd["strategy"] != "review":
        already = {t["item_id"] for t in store.pushed_tasks() if t["round_id"] == round_id}
        new = [i for i in item_ids if i not in already]
        state = budget_state(store, cfg)
        allowed = state.tasks_allowed
        if allowed is not None and len(new) > allowed:
            if allowed == 0:
                require_room(state)  # raises BudgetExhausted naming cap and spend
            keep = set(new[:allowed])
            capped = len(new) - allowed
            item_ids = [i for i in item_ids if i in already or i in keep]
            log.warning("round %d capped by the budget: %d of its items not pushed", round_id, capped)
    texts = {it["id"]: it["text"] for it in store.items(columns=("id", "text"))}
    version = rnd["model_version_id"]
    preds = {p["item_id"]: p for p in store.predictions(version)} if version else {}
    tasks = []
    for item_id in item_ids:
        p = preds.get(item_id)
        prelabel = PreLabel(label=p["label"], score=float(p["score"]), model_version=version) if p else None
        tasks.append(TaskToPush(item_id=item_id, text=texts[item_id], prelabel=prelabel))
    project_id = ensure_project(client, cfg)
    mapping = client.push_tasks(project_id, tasks, chunk_size=cfg.labelstudio.push_chunk)
    overlap = cfg.quality.overlap
    cohort: set[int] = set()
    if rnd["strategy"] != "review" and overlap.share > 0 and overlap.annotators > 1:
        all_items = rnd["picked_item_ids"]["item_ids"]
        cohort = overlap_cohort(all_items, share=overlap.share, seed=int(rnd["seed"] or 0), round_id=round_id)
        cohort_tasks = [mapping[i] for i in item_ids if i in cohort]
        client.set_task_overlap(project_id, cohort_tasks, annotators=overlap.annotators)
    pushed_at = budget_now()  # the budget's clock, so spend and commitments land in the period they belong to
    recorded = store.add_pushed_tasks(
        [
            {
                "item_id": t.item_id,
                "round_id": round_id,
                "ls_project_id": project_id,
                "task_id": mapping[t.item_id],
                "prelabel_model_version": t.prelabel.model_version if t.prelabel else None,
                "prelabel": t.prelabel.label if t.prelabel else None,
                "prelabel_score": t.prelabel.score if t.prelabel else None,
                "pushed_at": pushed_at,
            }
            for t in tasks
        ]
    )
    if rnd["state"] == "selected":
        store.set_round_state(round_id, "pushed", pushed_at=utcnow())
    with_prelabel = sum(t.prelabel is not None for t in tasks)
    log.info("round pushed round_id=%d project=%d tasks=%d recorded=%d", round_id, project_id, len(tasks), recorded)
    overlap_tasks = sum(t.item_id in cohort for t in tasks)
    return PushResult(round_id, project_id, len(tasks), recorded, with_prelabel, capped, overlap_tasks)
