"""Gold items: items with trusted labels, mixed into rounds unseen, that measure each annotator over time.

A gold label is a label event with ``source=gold`` (made by :func:`gold_events` from an item's trusted import
label). Annotators' answers on gold items are ordinary human events; their accuracy is read from the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from labelloop.engine.quality.votes import LiveLabels


@dataclass
class GoldAccuracy:
    """Accuracy on gold items: overall (label-weighted), per annotator, and per annotator per round."""

    answers: int = 0
    correct: int = 0
    per_annotator: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_annotator_round: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answers if self.answers else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy}


def gold_accuracy(live: LiveLabels) -> GoldAccuracy:
    """Each annotator's current answer on each gold item against the gold label."""
    out = GoldAccuracy()
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_round: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for item, (gold_label, _) in live.gold.items():
        for annotator, vote in live.human.get(item, {}).items():
            ok = int(vote.label == gold_label)
            out.answers += 1
            out.correct += ok
            tally[annotator][0] += 1
            tally[annotator][1] += ok
            rnd = by_round[annotator][str(vote.round_id)]
            rnd[0] += 1
            rnd[1] += ok
    out.per_annotator = {a: {"answers": n, "correct": c, "accuracy": c / n} for a, (n, c) in sorted(tally.items())}
    out.per_annotator_round = {
        a: {r: {"answers": n, "correct": c, "accuracy": c / n} for r, (n, c) in sorted(rounds.items())}
        for a, rounds in sorted(by_round.items())
    }
    return out


def gold_events(
    items: Sequence[Mapping[str, Any]], trusted: Mapping[int, tuple[str, int]], *, already_gold: set[int]
) -> list[dict[str, Any]]:
    """``source=gold`` events for ``items`` from their trusted labels (``trusted[item] = (label, event id)``).
    Items without a trusted label raise, naming them: a gold label is never guessed."""
    missing = [int(it["id"]) for it in items if int(it["id"]) not in trusted]
    if missing:
        raise ValueError(f"items without a trusted (imported) label cannot be gold: {missing[:10]}")
    return [
        {
            "item_id": int(it["id"]),
            "label": trusted[int(it["id"])][0],
            "source": "gold",
            "annotator": None,
            "tool": "labelloop",
            "external_id": f"gold:{int(it['id'])}",
            "extra": {"from_event": trusted[int(it["id"])][1]},
        }
        for it in items
        if int(it["id"]) not in already_gold
    ]
