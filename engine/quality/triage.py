"""The triage queue: items the guideline does not settle, for the people who own the taxonomy.

Three kinds of items enter it: those an annotator flagged "ambiguous / guideline unclear" (their latest answer is
that flag), those whose annotators disagree persistently (the resolution's review cases: a tie or a consensus
below ``review_below``), and those a taxonomy split sent back for relabeling. Each entry carries the annotators'
comments. :func:`disputed_pairs` counts, over items with several annotators, how often each pair of labels was
given to the same item by different annotators: the most disputed pairs are candidates for a clearer guideline.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from labelloop.engine.quality.resolution import Resolution
from labelloop.engine.quality.votes import LiveLabels


@dataclass
class TriageEntry:
    item_id: int
    reasons: list[str]
    votes: dict[str, str] = field(default_factory=dict)  # annotator → current label
    flagged_by: list[str] = field(default_factory=list)  # annotators whose latest answer is "ambiguous"
    comments: list[dict[str, str]] = field(default_factory=list)  # {annotator, comment}
    tentative: dict[str, str] = field(default_factory=dict)  # annotator → label ticked together with the flag


@dataclass
class DisputedPair:
    labels: tuple[str, str]
    disagreements: int  # annotator pairs on one item that gave these two labels
    items: int  # distinct items where it happened
    example_items: list[int]


@dataclass
class Triage:
    entries: list[TriageEntry]
    pairs: list[DisputedPair]
    overlap_items: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": [asdict(e) for e in self.entries],
            "pairs": [{**asdict(p), "labels": list(p.labels)} for p in self.pairs],
            "overlap_items": self.overlap_items,
        }


def _latest_human(events: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], Mapping[str, Any]]:
    """Per (item, annotator), the latest live human answer (label, skip or flag)."""
    retracted = {e["retracts_event_id"] for e in events if e.get("retracts_event_id") is not None}
    latest: dict[tuple[int, str], Mapping[str, Any]] = {}
    for e in sorted(events, key=lambda ev: ev["id"]):
        if e["source"] != "human" or e["id"] in retracted or e.get("retracts_event_id") is not None:
            continue
        latest[(int(e["item_id"]), e.get("annotator") or "unknown")] = e
    return latest


def disputed_pairs(live: LiveLabels, *, top: int = 10, examples: int = 5) -> tuple[list[DisputedPair], int]:
    """The label pairs most often given to one item by two different annotators, and the overlap item count."""
    count: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], list[int]] = defaultdict(list)
    overlapped = live.overlapped()
    for item in overlapped:
        votes = sorted(v.label for v in live.human[item].values())
        seen: set[tuple[str, str]] = set()
        for a, b in combinations(votes, 2):
            if a != b:
                count[(a, b)] += 1
                seen.add((a, b))
        for pair in seen:
            where[pair].append(item)
    ranked = sorted(count.items(), key=lambda kv: (-kv[1], -len(where[kv[0]]), kv[0]))[:top]
    return [DisputedPair(p, n, len(where[p]), where[p][:examples]) for p, n in ranked], len(overlapped)


def triage_queue(events: Sequence[Mapping[str, Any]], live: LiveLabels, resolution: Resolution) -> Triage:
    """Build the queue from the raw events (flags and comments live there), the live labels and their resolution.
    Entries: flagged first (most flags first), then disputes, then re-queued items; by item id within each."""
    entries: dict[int, TriageEntry] = {}

    def entry(item: int) -> TriageEntry:
        if item not in entries:
            votes = {a: v.label for a, v in sorted(live.human.get(item, {}).items())}
            entries[item] = TriageEntry(item, [], votes)
        return entries[item]

    latest = _latest_human(events)
    for (item, annotator), e in sorted(latest.items()):
        extra = e.get("extra") or {}
        if extra.get("ambiguous"):
            ent = entry(item)
            if "ambiguous" not in ent.reasons:
                ent.reasons.append("ambiguous")
            ent.flagged_by.append(annotator)
            if extra.get("tentative_label"):
                ent.tentative[annotator] = str(extra["tentative_label"])
    for item, case in resolution.review.items():
        entry(item).reasons.append(f"disagreement ({case.reason})")
    for item in live.requeued:
        entry(item).reasons.append("re-queued by a taxonomy split")
    for (item, annotator), e in sorted(latest.items()):
        comment = (e.get("extra") or {}).get("comment")
        if comment and item in entries:
            entries[item].comments.append({"annotator": annotator, "comment": str(comment)})
    pairs, overlap = disputed_pairs(live)
    ordered = sorted(
        entries.values(),
        key=lambda t: (
            0 if "ambiguous" in t.reasons else 1 if any(r.startswith("disagreement") for r in t.reasons) else 2,
            -len(t.flagged_by),
            t.item_id,
        ),
    )
    return Triage(ordered, pairs, overlap)
