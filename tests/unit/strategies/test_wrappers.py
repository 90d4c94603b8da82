"""Subsampling and class balancing around a base strategy."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.strategies import PoolExhaustedError, StrategyInputs, make_strategy
from labelloop.strategies.uncertainty import margin

NONE = np.array([], dtype=np.intp)


def test_subsample_equals_base_when_the_pool_is_small() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=100)
    inputs = StrategyInputs(proba=p)
    base = make_strategy("margin").query(inputs, np.arange(100), NONE, 5, rng=np.random.default_rng(1))
    wrapped = make_strategy("subsample", base={"name": "margin"}, max_pool=100).query(
        inputs, np.arange(100), NONE, 5, rng=np.random.default_rng(1)
    )
    np.testing.assert_array_equal(base, wrapped)


def test_subsample_limits_the_candidates() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=1000)
    s = make_strategy("subsample", base={"name": "margin"}, max_pool=50)
    picks = s.query(StrategyInputs(proba=p), np.arange(1000), NONE, 5, rng=np.random.default_rng(1))
    # The picks are the best of some 50-item subsample, not the best of the pool.
    assert not set(picks.tolist()) <= set(np.argsort(margin(p))[:5].tolist())
    assert s.requires == frozenset({"proba"})


def test_subsample_smaller_than_request_raises() -> None:
    s = make_strategy("subsample", base={"name": "random"}, max_pool=3)
    with pytest.raises(PoolExhaustedError, match=r"pool exhausted: 3 unlabeled / 4 requested \(subsample max_pool=3\)"):
        s.query(StrategyInputs(pool_size=10), np.arange(10), NONE, 4, rng=np.random.default_rng(0))


def test_class_balanced_evens_out_predicted_classes() -> None:
    rng = np.random.default_rng(0)
    n = 600
    pred = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 3, size=n))  # class 0 dominates
    p = np.full((n, 3), 0.1)
    p[np.arange(n), pred] = 0.8
    p += rng.random((n, 3)) * 0.05
    p /= p.sum(axis=1, keepdims=True)
    labels = np.zeros(n, dtype=int)
    inputs = StrategyInputs(proba=p, labels=labels)
    base = make_strategy("random").query(inputs, np.arange(n), NONE, 30, rng=np.random.default_rng(1))
    assert np.bincount(p[base].argmax(axis=1), minlength=3)[0] > 15
    s = make_strategy("class-balanced", base={"name": "random"}, candidate_multiplier=10)
    picks = s.query(inputs, np.arange(n), NONE, 30, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(np.bincount(p[picks].argmax(axis=1), minlength=3), [10, 10, 10])
    # Labeled items count: 10 labeled as class 1 → class 1 gets fewer picks.
    labels[:10] = 1
    inputs = StrategyInputs(proba=p, labels=labels)
    picks = s.query(inputs, np.arange(10, n), np.arange(10), 30, rng=np.random.default_rng(1))
    assert np.bincount(p[picks].argmax(axis=1), minlength=3).tolist() == [13, 4, 13] or \
        np.bincount(p[picks].argmax(axis=1), minlength=3)[1] < 10


def test_class_balanced_requires_labels_and_proba() -> None:
    s = make_strategy("class-balanced", base={"name": "coreset"})
    assert s.requires == frozenset({"embeddings", "proba", "labels"})
