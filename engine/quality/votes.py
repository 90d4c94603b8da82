"""The live labels in the append-only history: what each source and each annotator says about each item now.

Every quality measure starts here. An event counts when it carries a label and was not retracted (a deleted
annotation); per (item, annotator) only the latest human event counts (an edit replaces the annotator's earlier
answer, the history keeps both). Gold, adjudication, import and model events are kept apart by source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from labelloop.engine.taxonomy.history import TaxonomyHistory


@dataclass(frozen=True)
class Vote:
    """One annotator's current label of one item, with the event it comes from."""

    item_id: int
    annotator: str
    label: str
    event_id: int
    round_id: int | None
    event_at: Any


@dataclass
class LiveLabels:
    """Current labels by source. ``human`` maps item → annotator → :class:`Vote`; the others map item → (label,
    event id) of the latest live event of that source."""

    human: dict[int, dict[str, Vote]] = field(default_factory=dict)
    gold: dict[int, tuple[str, int]] = field(default_factory=dict)
    adjudication: dict[int, tuple[str, int]] = field(default_factory=dict)
    imported: dict[int, tuple[str, int]] = field(default_factory=dict)
    model: dict[int, tuple[str, int]] = field(default_factory=dict)
    # Items a taxonomy split sent back for relabeling (item → taxonomy version), with no label since.
    requeued: dict[int, str] = field(default_factory=dict)

    def ratings(self, item_ids: Iterable[int] | None = None) -> list[tuple[int, str, str]]:
        """``(item, annotator, label)`` triples for :mod:`labelloop.engine.quality.agreement`."""
        keys = self.human.keys() if item_ids is None else [i for i in item_ids if i in self.human]
        return [(i, v.annotator, v.label) for i in keys for v in self.human[i].values()]

    def overlapped(self, *, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """Items with at least two distinct human annotators (outside ``exclude``, e.g. gold items)."""
        return sorted(i for i, votes in self.human.items() if len(votes) >= 2 and i not in exclude)

    def annotators(self) -> list[str]:
        return sorted({a for votes in self.human.values() for a in votes})


def live_labels(events: Sequence[Mapping[str, Any]], *, taxonomy: TaxonomyHistory | None = None) -> LiveLabels:
    """Fold the event history (any order) into the current labels by source. With ``taxonomy``, labels given under
    an older taxonomy version read as they do now (renames, merges) and split items wait for relabeling."""
    requeued: dict[int, str] = {}
    if taxonomy is not None:
        applied = taxonomy.apply(events)
        events, requeued = applied.events, applied.requeued
    retracted = {e["retracts_event_id"] for e in events if e.get("retracts_event_id") is not None}
    out = LiveLabels(requeued=requeued)
    for e in sorted(events, key=lambda ev: ev["id"]):
        if e["label"] is None or e["id"] in retracted or e.get("retracts_event_id") is not None:
            continue
        item, label, source = int(e["item_id"]), str(e["label"]), e["source"]
        if source == "human":
            annotator = e.get("annotator") or "unknown"
            out.human.setdefault(item, {})[annotator] = Vote(
                item, annotator, label, int(e["id"]), e.get("round_id"), e.get("event_at")
            )
        elif source == "gold":
            out.gold[item] = (label, int(e["id"]))
        elif source == "adjudication":
            out.adjudication[item] = (label, int(e["id"]))
        elif source == "import":
            out.imported[item] = (label, int(e["id"]))
        elif source == "model":
            out.model[item] = (label, int(e["id"]))
    # A skip is an answer too, but not a label; a later skip does not erase the annotator's earlier label.
    return out


def vote_matrix(
    human: Mapping[int, Mapping[str, Vote]], item_ids: Sequence[int], annotators: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """``(n_items, n_annotators)`` class indices, ``-1`` where the annotator did not label the item. Labels outside
    ``classes`` (a config edited on the server) raise, naming item and label."""
    col = {a: j for j, a in enumerate(annotators)}
    idx = {c: k for k, c in enumerate(classes)}
    out = np.full((len(item_ids), len(annotators)), -1, dtype=np.int64)
    for r, item in enumerate(item_ids):
        for annotator, vote in human.get(item, {}).items():
            if vote.label not in idx:
                raise ValueError(f"item {item}: annotator {annotator!r} gave {vote.label!r}, not in {list(classes)}")
            out[r, col[annotator]] = idx[vote.label]
    return out


def by_round(votes: Iterable[Vote]) -> dict[int | None, list[Vote]]:
    grouped: dict[int | None, list[Vote]] = defaultdict(list)
    for v in votes:
        grouped[v.round_id].append(v)
    return dict(grouped)
