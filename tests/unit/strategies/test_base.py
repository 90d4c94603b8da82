"""Registry, config validation, the shared selector, input and pool validation."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.strategies import (
    DuplicateStrategyError,
    InvalidInputError,
    InvalidPoolError,
    NonFiniteScoresError,
    PoolExhaustedError,
    StrategyConfigError,
    StrategyInputs,
    UnknownStrategyError,
    available_strategies,
    make_strategy,
    select_top,
    strategy_from_config,
)
from labelloop.strategies.base import StrategyRegistry
from labelloop.strategies.uncertainty import Margin


def test_registry_has_the_issue_set() -> None:
    expected = {
        "random", "least-confidence", "margin", "entropy", "bald", "vote-entropy", "kl-to-consensus",
        "coreset", "kmeans", "cluster-margin", "badge", "typiclust", "class-balanced", "subsample",
    }
    assert expected <= set(available_strategies())


def test_duplicate_name_raises() -> None:
    class A(Margin):
        pass

    class B(Margin):
        pass

    reg = StrategyRegistry()
    reg.register("x")(A)
    with pytest.raises(DuplicateStrategyError, match=r"'x' is already registered to .*A"):
        reg.register("x")(B)
    assert reg.names() == ["x"] and reg.get("x") is A


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownStrategyError, match=r"unknown strategy 'marginn'; known strategies: .*badge.*margin"):
        make_strategy("marginn")


def test_unknown_param_is_named() -> None:
    with pytest.raises(StrategyConfigError, match=r"unknown parameter\(s\) \['beta'\] for strategy 'margin'"):
        make_strategy("margin", beta=1)
    with pytest.raises(StrategyConfigError, match=r"allowed: \['niter', 'max_points_per_centroid', 'init'\]"):
        make_strategy("kmeans", n_iter=3)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("kmeans", {"niter": 0}, r"The 'niter' parameter of strategy 'kmeans' must be an int >= 1. Got 0 instead."),
        ("kmeans", {"niter": True}, r"'niter' .* must be an int >= 1. Got True instead."),
        ("kl-to-consensus", {"aggregate": "sum"}, r"must be one of \['mean', 'max'\]. Got 'sum' instead."),
        ("cluster-margin", {"margin_multiplier": 0.5}, r"'margin_multiplier' .* >= 1.0. Got 0.5 instead."),
        ("cluster-margin", {"n_clusters": 0}, r"'n_clusters' .* must be None or an int >= 1. Got 0"),
        ("badge", {"use_grad_embeddings": "yes"}, r"'use_grad_embeddings' .* must be a bool. Got 'yes'"),
        ("subsample", {"base": "margin"}, r"'base' parameter of strategy 'subsample' must be a strategy config"),
    ],
)
def test_bad_param_values_use_one_format(name: str, params: dict, message: str) -> None:
    with pytest.raises(StrategyConfigError, match=message):
        make_strategy(name, **params)


def test_nested_config_errors_name_the_key_path() -> None:
    cfg = {"name": "subsample", "params": {"base": {"name": "kmeans", "params": {"niter": -1}}}}
    with pytest.raises(StrategyConfigError, match=r"^strategy: subsample.params.base: The 'niter' parameter"):
        strategy_from_config(cfg)
    with pytest.raises(StrategyConfigError, match="must have keys 'name'"):
        strategy_from_config({"params": {}})


def test_select_top_orders_by_score_and_breaks_ties_with_rng() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    picks = select_top(scores, 3, np.random.default_rng(0))
    assert set(picks[:2].tolist()) == {1, 3} and picks[2] == 2
    tied = np.zeros(50)
    runs = {tuple(select_top(tied, 5, np.random.default_rng(s))) for s in range(5)}
    assert len(runs) == 5
    np.testing.assert_array_equal(select_top(tied, 5, np.random.default_rng(7)),
                                  select_top(tied, 5, np.random.default_rng(7)))


def test_select_top_rejects_non_finite_and_too_many() -> None:
    with pytest.raises(NonFiniteScoresError, match="1 non-finite scores of 3"):
        select_top(np.array([0.1, np.nan, 0.2]), 1, np.random.default_rng(0))
    with pytest.raises(PoolExhaustedError, match="pool exhausted: 3 unlabeled / 4 requested"):
        select_top(np.zeros(3), 4, np.random.default_rng(0))
    assert select_top(np.zeros(3), 0, np.random.default_rng(0)).shape == (0,)


def test_inputs_are_validated_once() -> None:
    with pytest.raises(InvalidInputError, match="disagree on the number of items"):
        StrategyInputs(proba=np.full((3, 2), 0.5), embeddings=np.zeros((4, 2)))
    with pytest.raises(InvalidInputError, match="1 non-finite values"):
        StrategyInputs(embeddings=np.array([[0.0, np.nan]]))
    with pytest.raises(InvalidInputError, match="1 distributions do not sum to 1"):
        StrategyInputs(proba=np.array([[0.5, 0.5], [0.7, 0.7]]))
    with pytest.raises(InvalidInputError, match="negative probabilities"):
        StrategyInputs(proba=np.array([[1.5, -0.5]]))
    with pytest.raises(InvalidInputError, match=r"must have shape \(n, k, T\)"):
        StrategyInputs(proba_samples=np.full((3, 2), 0.5))
    assert StrategyInputs(committee_proba=np.full((2, 5, 2), 0.5)).n_items == 5


def test_pool_validation() -> None:
    s, inputs, rng = make_strategy("margin"), StrategyInputs(proba=np.full((6, 2), 0.5)), np.random.default_rng(0)
    with pytest.raises(InvalidPoolError, match="1 duplicate positions"):
        s.query(inputs, np.array([1, 1, 2]), np.array([0]), 1, rng=rng)
    with pytest.raises(InvalidPoolError, match=r"out of range \[0, 6\)"):
        s.query(inputs, np.array([1, 6]), np.array([0]), 1, rng=rng)
    with pytest.raises(InvalidPoolError, match="2 positions are both labeled and unlabeled"):
        s.query(inputs, np.array([1, 2, 3]), np.array([2, 3]), 1, rng=rng)
    with pytest.raises(InvalidPoolError, match="must hold integers"):
        s.query(inputs, np.array([1.0, 2.0]), np.array([0]), 1, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        s.query(inputs, np.array([1, 2]), np.array([0]), 1)  # type: ignore[call-arg]


def test_pool_exhausted_carries_numbers() -> None:
    s, inputs = make_strategy("random"), StrategyInputs(pool_size=100)
    with pytest.raises(PoolExhaustedError, match="pool exhausted: 37 unlabeled / 50 requested") as info:
        s.query(inputs, np.arange(37), np.arange(37, 100), 50, rng=np.random.default_rng(0))
    assert info.value.n_unlabeled == 37 and info.value.n_requested == 50
