"""Which tasks of a round ask for several annotators: a seeded share of the round's own items."""

from __future__ import annotations

import pytest

from labelloop.engine.rounds.push import overlap_cohort


def test_share_of_the_round_is_stable_under_repeats_and_order() -> None:
    items = list(range(100, 140))
    cohort = overlap_cohort(items, share=0.25, seed=7, round_id=3)
    assert len(cohort) == 10 and cohort <= set(items)
    assert overlap_cohort(list(reversed(items)) + items[:5], share=0.25, seed=7, round_id=3) == cohort
    # another round (or seed) draws its own cohort
    assert overlap_cohort(items, share=0.25, seed=7, round_id=4) != cohort
    assert overlap_cohort(items, share=0.25, seed=8, round_id=3) != cohort


def test_edges() -> None:
    assert overlap_cohort([1, 2, 3], share=0.0, seed=0, round_id=1) == set()
    assert overlap_cohort([1, 2, 3], share=1.0, seed=0, round_id=1) == {1, 2, 3}
    assert overlap_cohort([], share=0.5, seed=0, round_id=1) == set()
    assert len(overlap_cohort([1, 2, 3], share=0.5, seed=0, round_id=1)) == 2  # round(1.5) = 2
    with pytest.raises(ValueError, match="share"):
        overlap_cohort([1], share=1.5, seed=0, round_id=1)
