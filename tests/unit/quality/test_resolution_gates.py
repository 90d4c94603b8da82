"""Live labels from the event history, gold accuracy, the resolution order of trust, and the gates."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from labelloop.engine.config import GatesConfig
from labelloop.engine.quality.agreement import specific_agreement
from labelloop.engine.quality.gates import GateBlocked, QualityMeasures, blocked, evaluate_gates
from labelloop.engine.quality.gold import gold_accuracy, gold_events
from labelloop.engine.quality.resolution import resolve
from labelloop.engine.quality.votes import live_labels, vote_matrix

CLASSES = ["a", "b", "c"]
_ids = count(1)


def ev(item: int, label: str | None, source: str = "human", annotator: str | None = None, **kw: Any) -> dict:
    return {
        "id": next(_ids),
        "item_id": item,
        "label": label,
        "source": source,
        "annotator": annotator,
        "round_id": kw.get("round_id"),
        "retracts_event_id": kw.get("retracts"),
        "event_at": None,
    }


def test_live_labels_keeps_latest_per_annotator_and_drops_retracted() -> None:
    first = ev(1, "a", annotator="x")
    edit = ev(1, "b", annotator="x")
    other = ev(1, "a", annotator="y")
    gone = ev(2, "c", annotator="x")
    retraction = ev(2, None, annotator="x", retracts=gone["id"])
    skip = ev(3, None, annotator="y")
    live = live_labels([retraction, other, edit, first, gone, skip])
    assert {a: v.label for a, v in live.human[1].items()} == {"x": "b", "y": "a"}
    assert 2 not in live.human and 3 not in live.human
    assert live.overlapped() == [1]
    m = vote_matrix(live.human, [1], live.annotators(), CLASSES)
    assert m.tolist() == [[1, 0]]


def test_vote_matrix_rejects_unknown_label_naming_item() -> None:
    live = live_labels([ev(7, "zzz", annotator="x")])
    with pytest.raises(ValueError, match=r"item 7.*'zzz'"):
        vote_matrix(live.human, [7], ["x"], CLASSES)


def test_resolution_order_of_trust() -> None:
    events = [
        ev(1, "a", "import"),
        ev(1, "b", annotator="x"),  # human outranks import
        ev(2, "a", "gold"),
        ev(2, "c", annotator="x"),  # gold outranks human
        ev(3, "a", annotator="x"),
        ev(3, "a", annotator="y"),  # unanimous
        ev(4, "b", "model"),
        ev(5, "c", "model"),
        ev(5, "a", annotator="y"),  # the audit answer outranks the auto-label
        ev(6, "a", annotator="x"),
        ev(6, "b", annotator="y"),
        ev(6, "c", "adjudication", annotator="rev"),  # a reviewer's decision settles a dispute
    ]
    res = resolve(live_labels(events), CLASSES, method="majority")
    got = {i: (r.label, r.rule) for i, r in res.labels.items()}
    assert got == {
        1: ("b", "human"),
        2: ("a", "gold"),
        3: ("a", "unanimous"),
        4: ("b", "model"),
        5: ("a", "human"),
        6: ("c", "adjudication"),
    }
    assert res.review == {}


def test_tie_goes_to_review_and_is_not_resolved() -> None:
    events = [ev(1, "a", annotator="x"), ev(1, "b", annotator="y"), ev(2, "a", annotator="x")]
    res = resolve(live_labels(events), CLASSES, method="majority")
    assert 1 not in res.labels and 1 in res.review
    assert res.review[1].votes == {"x": "a", "y": "b"}
    assert res.labels[2].label == "a"


def test_majority_of_three_resolves_dispute() -> None:
    events = [ev(1, "a", annotator="x"), ev(1, "a", annotator="y"), ev(1, "c", annotator="z")]
    res = resolve(live_labels(events), CLASSES, method="majority", review_below=0.5)
    assert res.labels[1].label == "a"
    assert res.labels[1].rule == "consensus:majority"


def test_crowdlab_without_model_probabilities_says_so() -> None:
    events = [ev(1, "a", annotator="x"), ev(1, "a", annotator="y"), ev(1, "c", annotator="z")]
    res = resolve(live_labels(events), CLASSES, method="crowdlab", review_below=0.5, pred_probs=None)
    assert res.method == "majority"
    assert any("crowdlab" in n for n in res.notes)


def test_gold_accuracy_per_annotator_and_round() -> None:
    events = [
        ev(1, "a", "gold"),
        ev(2, "b", "gold"),
        ev(1, "a", annotator="good", round_id=1),
        ev(2, "b", annotator="good", round_id=2),
        ev(1, "c", annotator="bad", round_id=1),
        ev(2, "b", annotator="bad", round_id=2),
        ev(3, "c", annotator="bad", round_id=2),  # not gold: not counted
    ]
    g = gold_accuracy(live_labels(events))
    assert (g.answers, g.correct) == (4, 3)
    assert g.per_annotator["good"]["accuracy"] == 1.0
    assert g.per_annotator["bad"]["accuracy"] == 0.5
    assert g.per_annotator_round["bad"] == {
        "1": {"answers": 1, "correct": 0, "accuracy": 0.0},
        "2": {"answers": 1, "correct": 1, "accuracy": 1.0},
    }


def test_gold_events_need_trusted_labels() -> None:
    out = gold_events([{"id": 1}, {"id": 2}], {1: ("a", 10), 2: ("b", 11)}, already_gold={2})
    assert [(e["item_id"], e["label"], e["source"]) for e in out] == [(1, "a", "gold")]
    with pytest.raises(ValueError, match=r"\[3\]"):
        gold_events([{"id": 3}], {}, already_gold=set())


def test_specific_agreement_per_class() -> None:
    ratings = [(1, "x", "a"), (1, "y", "a"), (2, "x", "a"), (2, "y", "b"), (3, "x", "b"), (3, "y", "b")]
    sa = specific_agreement(ratings, CLASSES)
    # class a: pairs (1: 2 agreeing ordered pairs) / (item1: 2, item2: 1) = 2/3; class b likewise; c unseen
    assert sa["a"] == pytest.approx(2 / 3) and sa["b"] == pytest.approx(2 / 3) and sa["c"] is None


def _measures(**kw: Any) -> QualityMeasures:
    base = {
        "gold_accuracy": 0.9,
        "gold_answers": 50,
        "agreement_alpha": 0.7,
        "overlap_items": 40,
        "label_error_rate": 0.05,
        "labels_per_class": {"a": 10, "b": 10, "c": 10},
    }
    base.update(kw)
    return QualityMeasures(**base)


def test_gates_pass_fail_and_not_measured() -> None:
    cfg = GatesConfig(min_gold_accuracy=0.8, min_agreement=0.5, max_label_error_rate=0.1, min_labels_per_class=5)
    assert not blocked(evaluate_gates(_measures(), cfg, CLASSES))
    results = evaluate_gates(
        _measures(gold_accuracy=0.6, label_error_rate=0.3, labels_per_class={"a": 10, "b": 1}), cfg, CLASSES
    )
    failed = {r.gate: r for r in blocked(results)}
    assert set(failed) == {"min_gold_accuracy", "max_label_error_rate", "min_labels_per_class"}
    assert "0.6000 < threshold 0.8" in failed["min_gold_accuracy"].detail
    assert "'c': 0" in failed["min_labels_per_class"].detail
    few = evaluate_gates(
        _measures(gold_accuracy=0.1, gold_answers=3, agreement_alpha=None, overlap_items=0), cfg, CLASSES
    )
    status = {r.gate: r.status for r in few}
    assert status["min_gold_accuracy"] == "not_measured" and status["min_agreement"] == "not_measured"
    err = GateBlocked("training", results)
    assert "min_gold_accuracy: measured 0.6000 < threshold 0.8" in str(err)


def test_gates_can_be_switched_off() -> None:
    cfg = GatesConfig(min_gold_accuracy=None, min_agreement=None, max_label_error_rate=None, min_labels_per_class=None)
    bad = _measures(gold_accuracy=0.0, agreement_alpha=-0.5, label_error_rate=0.9, labels_per_class={})
    assert not blocked(evaluate_gates(bad, cfg, CLASSES))
