"""``drift-weighted``: picks the items far from the labeled data; registered, so the contract test covers it too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labelloop.strategies import (
    StrategyConfigError,
    StrategyInputs,
    available_strategies,
    make_strategy,
    strategy_from_config,
)
from labelloop.strategies.drift import novelty


def _two_regions(seed: int = 0) -> tuple[StrategyInputs, np.ndarray, np.ndarray, np.ndarray]:
    """60 items near the origin (10 labeled, 50 unlabeled) and 20 unlabeled items in a far 'drifted' cluster."""
    rng = np.random.default_rng(seed)
    near = rng.standard_normal((60, 5))
    far = rng.standard_normal((20, 5)) + 12.0
    emb = np.vstack([near, far]).astype(np.float32)
    proba = np.full((80, 2), 0.5)
    proba[:, 0] = rng.uniform(0.05, 0.95, size=80)
    proba[:, 1] = 1 - proba[:, 0]
    lab = np.arange(10)
    unl = np.arange(10, 80)
    return StrategyInputs(embeddings=emb, proba=proba), unl, lab, np.arange(60, 80)


def test_registered_and_round_trips() -> None:
    assert "drift-weighted" in available_strategies()
    s = make_strategy("drift-weighted", base={"name": "margin"}, candidate_multiplier=2.0)
    assert s.requires == {"embeddings", "proba"}
    assert s.get_params() == {"base": {"name": "margin", "params": {}}, "candidate_multiplier": 2.0}
    assert strategy_from_config(s.to_config()).get_params() == s.get_params()
    assert make_strategy("drift-weighted").requires == {"embeddings"}


def test_picks_the_drifted_region_first() -> None:
    inputs, unl, lab, drifted = _two_regions()
    picks = make_strategy("drift-weighted").query(inputs, unl, lab, 15, rng=np.random.default_rng(0))
    assert set(picks.tolist()) <= set(drifted.tolist())
    nov = novelty(inputs.embeddings, picks, lab)
    assert np.all(np.diff(nov) <= 1e-6)  # farthest first
    margin = make_strategy("margin").query(inputs, unl, lab, 15, rng=np.random.default_rng(0))
    assert not set(margin.tolist()) <= set(drifted.tolist())  # the base alone does not go there


def test_base_chooses_among_the_novel_candidates() -> None:
    inputs, unl, lab, drifted = _two_regions(1)
    s = make_strategy("drift-weighted", base={"name": "margin"}, candidate_multiplier=2.0)
    picks = s.query(inputs, unl, lab, 10, rng=np.random.default_rng(0))
    assert set(picks.tolist()) <= set(drifted.tolist())  # 2 × 10 candidates = the 20 drifted items
    margin_of = np.abs(inputs.proba[drifted, 0] - inputs.proba[drifted, 1])
    expected = drifted[np.argsort(margin_of, kind="stable")[:10]]
    assert sorted(picks.tolist()) == sorted(expected.tolist())


def test_novelty_is_the_nearest_labeled_distance() -> None:
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((30, 4)).astype(np.float32)
    idx, ref = np.arange(10, 30), np.arange(10)
    brute = np.sqrt(((emb[idx, None, :] - emb[None, ref, :]) ** 2).sum(-1)).min(axis=1)
    np.testing.assert_allclose(novelty(emb, idx, ref), brute, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"candidate_multiplier": 0.5}, r"'candidate_multiplier' parameter of strategy 'drift-weighted' must be"),
        ({"base": 3}, r"'base' parameter of strategy 'drift-weighted' must be a strategy config"),
        ({"base": {"name": "nope"}}, r"drift-weighted\.params\.base: unknown strategy 'nope'"),
    ],
)
def test_bad_params(params: dict[str, Any], match: str) -> None:
    with pytest.raises(StrategyConfigError, match=match):
        make_strategy("drift-weighted", **params)
