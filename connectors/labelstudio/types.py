"""Plain dataclasses exchanged with the rest of labelloop; no SDK type ever appears in them.

Ids: ``item_id`` is OUR item id (the store's), carried in each task's data; ``task_id``, ``annotation_id`` and
``annotator_id`` are Label Studio's. Timestamps are the server's ISO-8601 strings parsed to aware datetimes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PreLabel:
    """A model's suggestion shown to the annotator. ``score`` is in [0, 1] (Label Studio sorts by it)."""

    label: str
    score: float
    model_version: str


@dataclass(frozen=True)
class TaskToPush:
    """One item to label. ``text`` must already be redacted: it is stored verbatim on the server."""

    item_id: int
    text: str
    prelabel: PreLabel | None = None
    context: str | None = None  # evidence shown to a reviewer (review projects only)


@dataclass(frozen=True)
class PulledAnnotation:
    """One annotation as the server holds it now.

    ``label`` is None when the annotation carries no choice (a skip, or an empty submit). ``was_cancelled`` is a
    skip: an explicit state the round must record, never a silent drop. ``prediction_*`` describe the pre-label
    the annotator saw (from the server's snapshot), so pre-label acceptance can be measured.
    """

    annotation_id: int
    task_id: int
    label: str | None
    annotator_id: int | None
    annotator_email: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lead_time_s: float | None
    was_cancelled: bool
    ground_truth: bool = False
    prediction_model_version: str | None = None
    prediction_label: str | None = None
    prediction_score: float | None = None
    ambiguous: bool = False  # the annotator flagged "ambiguous / guideline unclear"
    comment: str | None = None  # the annotator's free-text comment (triage)


@dataclass(frozen=True)
class PulledTask:
    """A task that changed since the cursor, with ALL its current annotations.

    An annotation id known to the store but absent here was deleted; one with a newer ``updated_at`` was edited.
    """

    task_id: int
    item_id: int
    updated_at: dt.datetime
    annotations: list[PulledAnnotation] = field(default_factory=list)
