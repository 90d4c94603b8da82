"""Which label an item has now: the quality-aware resolution rule that training and exports use.

Order of trust, first match wins:

1. ``gold``: a trusted label (gold set);
2. ``adjudication``: a reviewer's decision from the review queue;
3. human labels: one annotator → ``human``; several who agree → ``unanimous``; several who disagree → the
   configured adjudicator (majority, Dawid-Skene, CROWDLAB) over all human votes of the project → ``consensus:<m>``,
   unless it is a tie or less confident than ``review_below``: then the item goes to the review queue and has no
   label until a reviewer decides (it is not trained on);
4. ``import``: a label that came with the source data;
5. ``model``: an auto-label under the precision target.

Each resolved label says how it was resolved (``rule``), so dataset versions record it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelloop.engine.quality.votes import LiveLabels, vote_matrix

log = logging.getLogger(__name__)

RULE_VERSION = "quality-v1"


@dataclass(frozen=True)
class Resolved:
    label: str
    rule: str
    confidence: float | None = None


@dataclass(frozen=True)
class ReviewCase:
    """An item the adjudicator could not settle: the votes and why."""

    item_id: int
    votes: dict[str, str]
    reason: str
    suggested: str | None
    confidence: float | None


@dataclass
class Resolution:
    labels: dict[int, Resolved] = field(default_factory=dict)
    review: dict[int, ReviewCase] = field(default_factory=dict)
    method: str = "majority"
    notes: list[str] = field(default_factory=list)
    annotator_quality: dict[str, float] = field(default_factory=dict)

    def label_map(self) -> dict[int, str]:
        return {i: r.label for i, r in self.labels.items()}


def _adjudicate(
    method: str,
    votes: np.ndarray,
    n_classes: int,
    *,
    review_below: float,
    pred_probs: np.ndarray | None,
) -> Any:
    from labelloop.engine.quality import adjudication

    if method == "majority":
        return adjudication.majority_vote(votes, n_classes, min_agreement=review_below)
    if method == "dawid-skene":
        return adjudication.dawid_skene(votes, n_classes, review_below=review_below)
    if method == "crowdlab":
        if pred_probs is None:
            raise ValueError("crowdlab needs model probabilities")
        return adjudication.crowdlab(votes, n_classes, pred_probs, review_below=review_below)
    raise ValueError(f"unknown adjudication method {method!r}; known: majority, dawid-skene, crowdlab")


def resolve(
    live: LiveLabels,
    classes: Sequence[str],
    *,
    method: str = "dawid-skene",
    review_below: float = 0.6,
    pred_probs: Mapping[int, np.ndarray] | None = None,
) -> Resolution:
    """Resolve every item's label from its live labels (see the module docstring for the order of trust).

    ``pred_probs`` (item → class probabilities in ``classes`` order) feeds CROWDLAB; without them for every
    human-labelled item, CROWDLAB cannot run and majority vote is used, with a note saying so.
    """
    out = Resolution(method=method)
    human_items = sorted(live.human)
    disputed = {i for i in human_items if len({v.label for v in live.human[i].values()}) > 1}
    decided = set(live.gold) | set(live.adjudication)

    consensus: dict[int, tuple[int, float, bool]] = {}
    if disputed - decided:
        annotators = live.annotators()
        matrix = vote_matrix(live.human, human_items, annotators, classes)
        used = method
        probs = None
        if method == "crowdlab":
            if pred_probs is not None and all(i in pred_probs for i in human_items):
                probs = np.vstack([pred_probs[i] for i in human_items])
            else:
                used = "majority"
                out.notes.append("crowdlab needs the serving model's probabilities for every labelled item: majority")
        result = _adjudicate(used, matrix, len(classes), review_below=review_below, pred_probs=probs)
        out.method = used
        if getattr(result, "annotator_quality", None) is not None:
            out.annotator_quality = {a: float(q) for a, q in zip(annotators, result.annotator_quality, strict=True)}
        for row, item in enumerate(human_items):
            if item in disputed:
                consensus[item] = (
                    int(result.labels[row]),
                    float(result.confidence[row]),
                    bool(result.needs_review[row]),
                )

    for item in set(live.gold) | set(live.adjudication) | set(live.human) | set(live.imported) | set(live.model):
        if item in live.gold:
            out.labels[item] = Resolved(live.gold[item][0], "gold", 1.0)
        elif item in live.adjudication:
            out.labels[item] = Resolved(live.adjudication[item][0], "adjudication", 1.0)
        elif item in live.human:
            votes = live.human[item]
            if len(votes) == 1:
                out.labels[item] = Resolved(next(iter(votes.values())).label, "human")
            elif item not in disputed:
                out.labels[item] = Resolved(next(iter(votes.values())).label, "unanimous", 1.0)
            else:
                label_idx, conf, needs_review = consensus[item]
                suggested = classes[label_idx] if label_idx >= 0 else None
                if needs_review or suggested is None:
                    reason = "tie" if suggested is None else f"low consensus ({conf:.2f} < {review_below})"
                    out.review[item] = ReviewCase(
                        item, {a: v.label for a, v in sorted(votes.items())}, reason, suggested, conf
                    )
                else:
                    out.labels[item] = Resolved(suggested, f"consensus:{out.method}", conf)
        elif item in live.imported:
            out.labels[item] = Resolved(live.imported[item][0], "import")
        else:
            out.labels[item] = Resolved(live.model[item][0], "model")
    if out.review:
        log.info("resolution: %d items wait for review (%s)", len(out.review), out.method)
    return out
