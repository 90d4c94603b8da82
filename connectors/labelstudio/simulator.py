"""A simulated annotator for tests and demos: the engine never imports it.

It labels pushed tasks through the real API from a dataset's true labels, as one or several Label Studio users (each
with its own token, so ``completed_by`` is that user), with a seeded error rate, skip rate and lead time. It can also
edit and delete annotations, to exercise the pull's edit/delete detection. Label Studio takes ≈5–8 annotation writes/s
on 2 cores, so keep counts small.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.connectors.labelstudio.client import LabelStudioClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedAnnotation:
    """What the simulator wrote: ``label`` None for a skip; ``is_error`` when it deliberately chose a wrong label."""

    annotation_id: int
    task_id: int
    item_id: int
    annotator: str
    label: str | None
    is_error: bool
    was_cancelled: bool


class SimulatedAnnotator:
    """Annotates ``{item_id: task_id}`` tasks from ``true_labels`` (item_id -> label).

    ``clients`` maps an annotator name (e.g. the user's email) to a client connected with THAT user's token. Each
    task gets ``annotators_per_task`` annotations from distinct users picked with the seeded generator.
    """

    def __init__(
        self,
        clients: Mapping[str, LabelStudioClient],
        project_id: int,
        labels: Sequence[str],
        *,
        error_rate: float | Mapping[str, float] = 0.0,
        skip_rate: float = 0.0,
        lead_time_s: tuple[float, float] = (2.0, 20.0),
        seed: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        if not clients:
            raise ValueError("at least one annotator client is needed")
        rates = dict(error_rate) if isinstance(error_rate, Mapping) else dict.fromkeys(clients, error_rate)
        missing = sorted(set(clients) - set(rates))
        if missing:
            raise ValueError(f"error_rate has no rate for annotators {missing}")
        for name, value in [*((f"error_rate[{a}]", r) for a, r in rates.items()), ("skip_rate", skip_rate)]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {value}")
        w = dict(weights) if weights is not None else dict.fromkeys(clients, 1.0)
        if sorted(w) != sorted(clients) or any(v <= 0 for v in w.values()):
            raise ValueError(f"weights must give every annotator a positive weight; got {w}")
        if lead_time_s[0] < 0 or lead_time_s[1] < lead_time_s[0]:
            raise ValueError(f"lead_time_s must be (low, high) with 0 <= low <= high; got {lead_time_s}")
        if len(labels) < 2:
            raise ValueError("at least two labels are needed to simulate errors")
        self.clients = dict(clients)
        self.project_id = project_id
        self.labels = list(labels)
        self.error_rates = rates
        self.weights = w
        self.skip_rate = skip_rate
        self.lead_time_s = lead_time_s
        self.rng = np.random.default_rng(seed)

    def annotate(
        self,
        task_ids: Mapping[int, int],
        true_labels: Mapping[int, str],
        *,
        annotators_per_task: int | Mapping[int, int] = 1,
    ) -> list[SimulatedAnnotation]:
        """One pass over the tasks, in item-id order (deterministic for a seed); returns what was written.

        ``annotators_per_task`` is one count for all, or per item (e.g. Label Studio's task overlap); annotators
        are drawn without replacement in proportion to their ``weights``."""
        names = sorted(self.clients)
        w = np.array([self.weights[n] for n in names], dtype=float)
        p = None if np.all(w == w[0]) else w / w.sum()  # equal weights: numpy's uniform draw, as before
        written: list[SimulatedAnnotation] = []
        for item_id in sorted(task_ids):
            if item_id not in true_labels:
                raise KeyError(f"no true label for item {item_id}")
            truth = true_labels[item_id]
            count = (
                annotators_per_task.get(item_id, 1) if isinstance(annotators_per_task, Mapping) else annotators_per_task
            )
            if not 1 <= count <= len(names):
                raise ValueError(f"annotators_per_task must be in 1..{len(names)}; got {count} for item {item_id}")
            picked = self.rng.choice(len(names), size=count, replace=False, p=p)
            for index in sorted(int(i) for i in picked):
                written.append(self._one(names[index], item_id, task_ids[item_id], truth))
        log.info("simulator.annotate project_id=%s annotations=%d", self.project_id, len(written))
        return written

    def _one(self, name: str, item_id: int, task_id: int, truth: str) -> SimulatedAnnotation:
        client = self.clients[name]
        lead = float(self.rng.uniform(*self.lead_time_s))
        if self.rng.random() < self.skip_rate:
            ann_id = client.create_annotation(
                task_id, None, project_id=self.project_id, lead_time_s=lead, was_cancelled=True
            )
            return SimulatedAnnotation(ann_id, task_id, item_id, name, None, False, True)
        label, is_error = truth, False
        if self.rng.random() < self.error_rates[name]:
            label = str(self.rng.choice([x for x in self.labels if x != truth]))
            is_error = True
        ann_id = client.create_annotation(task_id, label, project_id=self.project_id, lead_time_s=lead)
        return SimulatedAnnotation(ann_id, task_id, item_id, name, label, is_error, False)

    def edit(self, annotation: SimulatedAnnotation, new_label: str) -> None:
        """Change an annotation's label as the user who wrote it (same id, new ``updated_at``)."""
        self.clients[annotation.annotator].update_annotation(
            annotation.annotation_id, new_label, project_id=self.project_id
        )

    def delete(self, annotation: SimulatedAnnotation) -> None:
        """Delete an annotation as the user who wrote it."""
        self.clients[annotation.annotator].delete_annotation(annotation.annotation_id)
