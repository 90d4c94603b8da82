"""The simulated annotator's seeded decisions, against a fake client (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator


class _FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def create_annotation(self, task_id: int, label: str | None, **kwargs: Any) -> int:
        self.calls.append((task_id, label, kwargs.get("was_cancelled", False)))
        return 1000 + len(self.calls)


LABELS = ["a", "b", "c"]
TRUTH = {i: LABELS[i % 3] for i in range(40)}
TASKS = {i: 100 + i for i in range(40)}


def _run(seed: int, **kwargs: Any) -> list[Any]:
    clients = {"u1@x.org": _FakeClient(), "u2@x.org": _FakeClient()}
    sim = SimulatedAnnotator(clients, 1, LABELS, seed=seed, **kwargs)  # type: ignore[arg-type]
    return sim.annotate(TASKS, TRUTH)


def test_same_seed_same_annotations() -> None:
    assert _run(3, error_rate=0.3, skip_rate=0.2) == _run(3, error_rate=0.3, skip_rate=0.2)
    assert _run(3, error_rate=0.3, skip_rate=0.2) != _run(4, error_rate=0.3, skip_rate=0.2)


def test_perfect_annotator_copies_the_truth() -> None:
    out = _run(0)
    assert all(a.label == TRUTH[a.item_id] and not a.was_cancelled for a in out)
    assert [a.task_id for a in out] == [TASKS[i] for i in sorted(TASKS)]


def test_error_rate_one_is_always_wrong_and_skip_rate_one_always_skips() -> None:
    assert all(a.is_error and a.label != TRUTH[a.item_id] for a in _run(0, error_rate=1.0))
    assert all(a.was_cancelled and a.label is None for a in _run(0, skip_rate=1.0))


def test_two_annotators_per_task_are_distinct_users() -> None:
    clients = {"u1@x.org": _FakeClient(), "u2@x.org": _FakeClient()}
    sim = SimulatedAnnotator(clients, 1, LABELS, seed=1)  # type: ignore[arg-type]
    out = sim.annotate(TASKS, TRUTH, annotators_per_task=2)
    by_task: dict[int, set[str]] = {}
    for a in out:
        by_task.setdefault(a.task_id, set()).add(a.annotator)
    assert all(len(users) == 2 for users in by_task.values())
    with pytest.raises(ValueError, match="annotators_per_task"):
        sim.annotate(TASKS, TRUTH, annotators_per_task=3)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"error_rate": 1.5}, "error_rate"), ({"lead_time_s": (5, 1)}, "lead_time")]
)
def test_bad_parameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimulatedAnnotator({"u": _FakeClient()}, 1, LABELS, **kwargs)  # type: ignore[dict-item]
