"""The report's triage section: the guideline owners' work list (flagged, disputed and re-queued items with the
annotators' comments) and the most disputed label pairs. Item texts never appear (ids only); comments are the
annotators' own words about redacted texts."""

from __future__ import annotations

from typing import Any

from labelloop.engine.reporting.report import Section

_MAX_ROWS = 50
_COMMENT_CHARS = 200


def triage_section(project: Any) -> Section:
    from labelloop.engine.quality.assess import resolve_store
    from labelloop.engine.quality.triage import triage_queue

    s = Section("Triage: ambiguous and disputed items, guideline candidates")
    live, resolution = resolve_store(project.store, project.config)
    triage = triage_queue(project.store.label_events(), live, resolution)
    if not triage.entries:
        s.para("No item is flagged ambiguous, disputed or waiting for relabeling.")
    else:
        flagged = sum("ambiguous" in e.reasons for e in triage.entries)
        s.para(f"{len(triage.entries)} items in the queue ({flagged} flagged ambiguous by an annotator).")
        rows = []
        for e in triage.entries[:_MAX_ROWS]:
            comments = " | ".join(f"{c['annotator']}: {c['comment'][:_COMMENT_CHARS]}" for c in e.comments)
            votes = ", ".join(f"{a}: {lab}" for a, lab in e.votes.items())
            rows.append([e.item_id, "; ".join(e.reasons), ", ".join(e.flagged_by), votes, comments])
        s.table(["item", "why", "flagged by", "labels given", "comments"], rows)
        if len(triage.entries) > _MAX_ROWS:
            s.para(f"… and {len(triage.entries) - _MAX_ROWS} more (labelloop quality triage --json).")
    if triage.pairs:
        s.para(
            f"Most disputed label pairs over {triage.overlap_items} items with several annotators "
            "(candidates for a clearer guideline):"
        )
        s.table(
            ["labels", "disagreements", "items", "example items"],
            [
                [f"{p.labels[0]} vs {p.labels[1]}", p.disagreements, p.items, ", ".join(map(str, p.example_items))]
                for p in triage.pairs
            ],
        )
    else:
        s.para(f"No disputed label pair ({triage.overlap_items} items with several annotators).")
    return s
