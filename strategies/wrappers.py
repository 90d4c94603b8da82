"""Wrappers: variants of any strategy, built by wrapping a base strategy (configured as a nested config
``{"name": ..., "params": {...}}`` or given as a :class:`Strategy`).

* :class:`Subsample` (``"subsample"``): for very large pools, draw ``max_pool`` unlabeled items with the round's
  generator and let the base strategy choose among them; cost then scales with ``max_pool``, not the pool.
* :class:`ClassBalanced` (``"class-balanced"``): ask the base for ``candidate_multiplier·n`` candidates (its
  pick order is its priority), then fill the batch so that labeled + picked counts per *predicted* class
  (``argmax proba``) stay as even as possible. When a class runs out of candidates it stops receiving picks (logged
  at INFO with the counts): the batch is as balanced as the candidates allow, never padded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.strategies.base import (
    InvalidInputError,
    PoolExhaustedError,
    Strategy,
    StrategyConfigError,
    StrategyInputs,
    check_float,
    check_int,
    register,
    strategy_from_config,
)

logger = logging.getLogger(__name__)


def _base(wrapper: str, base: Mapping[str, Any] | Strategy) -> Strategy:
    if not isinstance(base, Mapping | Strategy):
        raise StrategyConfigError(
            f"The 'base' parameter of strategy '{wrapper}' must be a strategy config "
            f"{{'name': ..., 'params': {{...}}}} or a Strategy. Got {base!r} instead."
        )
    return strategy_from_config(base, key_path=f"{wrapper}.params.base")


@register("subsample")
class Subsample(Strategy):
    """Run ``base`` on a random subsample of at most ``max_pool`` unlabeled items."""

    def __init__(self, *, base: Mapping[str, Any] | Strategy, max_pool: int = 20_000) -> None:
        self.base = _base("subsample", base)
        self.max_pool = check_int("subsample", "max_pool", max_pool, low=1)

    @property
    def requires(self) -> frozenset[str]:
        return self.base.requires

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        if n > self.max_pool:
            raise PoolExhaustedError(self.max_pool, n, detail=f"subsample max_pool={self.max_pool}")
        sub = indices_unlabeled
        if indices_unlabeled.size > self.max_pool:
            sub = np.sort(rng.choice(indices_unlabeled, size=self.max_pool, replace=False))
        logger.debug("subsample pool=%d subsample=%d", indices_unlabeled.size, sub.size)
        return self.base.query(inputs, sub, indices_labeled, n, rng=rng)


@register("class-balanced")
class ClassBalanced(Strategy):
    """Re-balance ``base``'s picks over predicted classes, counting the labeled items' classes too."""

    def __init__(self, *, base: Mapping[str, Any] | Strategy, candidate_multiplier: float = 5.0) -> None:
        self.base = _base("class-balanced", base)
        self.candidate_multiplier = check_float(
            "class-balanced", "candidate_multiplier", candidate_multiplier, low=1.0
        )

    @property
    def requires(self) -> frozenset[str]:
        return self.base.requires | {"proba", "labels"}

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        proba = inputs.get("proba")
        k = proba.shape[1]
        labels = inputs.get("labels")[indices_labeled]
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise InvalidInputError(
                f"labels of labeled items must be in [0, {k}), got [{labels.min()}, {labels.max()}]"
            )
        n_cand = min(indices_unlabeled.size, math.ceil(self.candidate_multiplier * n))
        cand = self.base.query(inputs, indices_unlabeled, indices_labeled, n_cand, rng=rng)
        pred = proba[cand].argmax(axis=1)
        queues = [cand[pred == c] for c in range(k)]  # each in base priority order
        heads = np.zeros(k, dtype=np.intp)
        counts = np.bincount(labels, minlength=k).astype(np.int64)
        class_tiebreak = rng.permutation(k)
        picks = np.empty(n, dtype=np.intp)
        exhausted_logged = False
        for step in range(n):
            has = np.array([heads[c] < queues[c].size for c in range(k)])
            if not has.all() and not exhausted_logged:
                logger.info("class_balanced classes_without_candidates=%s counts=%s step=%d",
                            np.flatnonzero(~has).tolist(), counts.tolist(), step)
                exhausted_logged = True
            open_classes = np.flatnonzero(has)
            c = open_classes[np.lexsort((class_tiebreak[open_classes], counts[open_classes]))[0]]
            picks[step] = queues[c][heads[c]]
            heads[c] += 1
            counts[c] += 1
        return picks
