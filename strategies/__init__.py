"""Query strategies: choose which pool items to label next, from model outputs (never the model).

Public API::

    from labelloop.strategies import StrategyInputs, make_strategy, available_strategies

    strategy = make_strategy("margin")                      # or strategy_from_config({"name": ..., "params": ...})
    inputs = StrategyInputs(proba=proba)                     # fill only strategy.requires
    picks = strategy.query(inputs, indices_unlabeled, indices_labeled, 50, rng=np.random.default_rng(seed))

Which one when: ``random`` as the baseline; ``typiclust`` (or ``kmeans``) with no labels; ``margin`` /
``entropy`` / ``least-confidence`` with one model and small batches; ``bald`` (``batchbald`` for batches) with
MC-dropout passes; ``vote-entropy`` / ``kl-to-consensus`` / ``consensus-entropy`` with a committee; ``badge`` or
``cluster-margin`` for large batches (uncertain *and* diverse); ``coreset`` when the model is weak; wrap any of them
in ``subsample`` for very large pools or ``class-balanced`` for skewed classes; ``drift-weighted`` after a drift
alert (items far from the labeled data first).
"""

from labelloop.strategies import (  # noqa: F401  (imported to register the strategies)
    baseline,
    bayesian,
    cold_start,
    committee,
    diversity,
    drift,
    hybrid,
    uncertainty,
    wrappers,
)
from labelloop.strategies.base import (
    REQUIRES_VOCABULARY,
    DuplicateStrategyError,
    InvalidInputError,
    InvalidPoolError,
    MissingInputError,
    NonFiniteScoresError,
    PoolExhaustedError,
    ScoreStrategy,
    Strategy,
    StrategyConfigError,
    StrategyError,
    StrategyInputs,
    UnknownStrategyError,
    available_strategies,
    make_strategy,
    register,
    select_top,
    strategy_from_config,
)

__all__ = [
    "REQUIRES_VOCABULARY",
    "DuplicateStrategyError",
    "InvalidInputError",
    "InvalidPoolError",
    "MissingInputError",
    "NonFiniteScoresError",
    "PoolExhaustedError",
    "ScoreStrategy",
    "Strategy",
    "StrategyConfigError",
    "StrategyError",
    "StrategyInputs",
    "UnknownStrategyError",
    "available_strategies",
    "make_strategy",
    "register",
    "select_top",
    "strategy_from_config",
]
