"""BatchBALD: the greedy joint estimate against exact enumeration, and the duplicate case BALD gets wrong."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labelloop.strategies import StrategyConfigError, StrategyInputs, make_strategy
from labelloop.strategies.bayesian import bald, batchbald_greedy


def _joint_mi(p: np.ndarray, rows: list[int]) -> float:
    """Exact I(y_rows; w) by enumerating every label configuration; ``p`` (c, k, T), uniform over passes."""
    k = p.shape[1]
    h_joint = 0.0
    for ys in itertools.product(range(k), repeat=len(rows)):
        per_pass = np.prod([p[r, y, :] for r, y in zip(rows, ys, strict=True)], axis=0)  # (T,)
        q = per_pass.mean()
        h_joint -= q * np.log(q) if q > 0 else 0.0
    mean_h = sum(float(-(p[r] * np.log(p[r])).sum(axis=0).mean()) for r in rows)
    return h_joint - mean_h


def _samples(rng: np.random.Generator, c: int, k: int, t: int, sharp: float = 3.0) -> np.ndarray:
    logits = rng.standard_normal((c, k, t)) * sharp
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_second_pick_maximises_exact_joint_mutual_information() -> None:
    rng = np.random.default_rng(3)
    p = _samples(rng, 12, 3, 6)
    first = int(np.argmax(bald(p)))
    exact = [(_joint_mi(p, [first, j]) if j != first else -np.inf) for j in range(12)]
    picks = batchbald_greedy(p, 2, np.random.default_rng(0), n_configurations=20_000)
    assert picks[0] == first
    assert picks[1] == int(np.argmax(exact))


def test_duplicates_are_not_picked_together_while_bald_would() -> None:
    t = 8
    # Item 0: passes confidently disagree (high BALD); items 1, 2 are exact copies of it. Item 3: passes disagree
    # mildly and along another split of the passes (lower BALD, but independent of item 0).
    confident = np.zeros((2, t))
    confident[0, : t // 2] = confident[1, t // 2 :] = 0.98
    confident[1, : t // 2] = confident[0, t // 2 :] = 0.02
    other = np.zeros((2, t))
    other[0, ::2] = other[1, 1::2] = 0.8
    other[1, ::2] = other[0, 1::2] = 0.2
    p = np.stack([confident, confident, confident, other])
    assert bald(p)[3] < bald(p)[0]  # top-2 by BALD would be two copies of item 0
    picks = batchbald_greedy(p, 2, np.random.default_rng(1), n_configurations=256)
    assert sorted(picks.tolist())[1] == 3 and picks[0] in (0, 1, 2)


def test_strategy_candidates_and_params() -> None:
    rng = np.random.default_rng(1)
    p = _samples(rng, 60, 4, 10)
    inputs = StrategyInputs(proba_samples=p)
    strat = make_strategy("batchbald", candidate_multiplier=2.0, n_configurations=32)
    picks = strat.query(inputs, np.arange(10, 60), np.arange(10), 5, rng=np.random.default_rng(0))
    top10 = 10 + np.argsort(-bald(p[10:]))[:10]
    assert set(picks.tolist()) <= set(top10.tolist())  # only the 2·n highest-BALD items are candidates
    again = strat.query(inputs, np.arange(10, 60), np.arange(10), 5, rng=np.random.default_rng(0))
    assert picks.tolist() == again.tolist()
    with pytest.raises(StrategyConfigError, match="n_configurations"):
        make_strategy("batchbald", n_configurations=0)
