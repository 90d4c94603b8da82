"""The review queue: items people disagree on (ties, low-confidence consensus) and suspected label errors go to a
separate Label Studio project, with the evidence above the text. A reviewer's choice comes back through
``pull(review=True)`` as a label event with ``source=adjudication``, which outranks every human label. Nothing is
ever relabelled silently: a suspect keeps its label until a reviewer decides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.types import PreLabel, TaskToPush
from labelloop.engine.config import ProjectConfig
from labelloop.engine.labelstudio import ensure_review_project
from labelloop.engine.quality.resolution import ReviewCase
from labelloop.engine.store import Store

log = logging.getLogger(__name__)


@dataclass
class ReviewPushResult:
    ls_project_id: int
    disputed: int
    suspects: int
    tasks: int
    newly_recorded: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dispute_context(case: ReviewCase) -> str:
    votes = "; ".join(f"{a}: {label}" for a, label in case.votes.items())
    return f"Disputed ({case.reason}). Annotators said: {votes}"


def _suspect_context(s: dict[str, Any]) -> str:
    return (
        f"Possible label error: labelled {s['given']!r}; the model (trained without this item) says "
        f"{s['suggested']!r} with p={s['suggested_prob']:.2f} and gives the given label p={s['self_confidence']:.2f}"
    )


def push_review(
    store: Store,
    client: LabelStudioClient,
    cfg: ProjectConfig,
    *,
    cases: Sequence[ReviewCase],
    suspects: Sequence[dict[str, Any]] = (),
) -> ReviewPushResult:
    """Push disputed items and suspected label errors (rows of :class:`~...assess.LabelErrorCheck` suspects) that
    are not in the review project yet. The adjudicator's or the model's suggestion is shown as a pre-label."""
    texts = {it["id"]: it["text"] for it in store.items(columns=("id", "text"))}
    tasks: list[TaskToPush] = []
    seen: set[int] = set()
    for case in cases:
        pre = (
            PreLabel(case.suggested, float(case.confidence or 0.0), "adjudication")
            if case.suggested is not None
            else None
        )
        tasks.append(TaskToPush(case.item_id, texts[case.item_id], pre, _dispute_context(case)))
        seen.add(case.item_id)
    n_suspects = 0
    for s in suspects:
        if s["item_id"] in seen:
            continue
        seen.add(s["item_id"])
        n_suspects += 1
        pre = PreLabel(s["suggested"], float(s["suggested_prob"]), "label-error-check")
        tasks.append(TaskToPush(s["item_id"], texts[s["item_id"]], pre, _suspect_context(s)))
    project_id = ensure_review_project(client, cfg)
    mapping = client.push_tasks(project_id, tasks, chunk_size=cfg.labelstudio.push_chunk) if tasks else {}
    recorded = store.add_pushed_tasks(
        [
            {
                "item_id": t.item_id,
                "round_id": None,
                "ls_project_id": project_id,
                "task_id": mapping[t.item_id],
                "prelabel_model_version": t.prelabel.model_version if t.prelabel else None,
                "prelabel": t.prelabel.label if t.prelabel else None,
                "prelabel_score": t.prelabel.score if t.prelabel else None,
            }
            for t in tasks
        ]
    )
    log.info("review pushed project=%d disputed=%d suspects=%d", project_id, len(cases), n_suspects)
    return ReviewPushResult(project_id, len(cases), n_suspects, len(tasks), recorded)
