"""``drift-weighted``: label the drifted region first, when a drift alert says the pool has moved away from the
training data.

The training data of the serving model are the labeled items, so an unlabeled item's *novelty* is its Euclidean
distance to the nearest labeled item's embedding (exact, faiss ``IndexFlatL2``). The wrapper keeps the
``candidate_multiplier·n`` most novel unlabeled items and lets ``base`` choose ``n`` among them (its pick order is
its priority); without a ``base`` the ``n`` most novel items are taken, farthest first, ties broken by the round's
generator. With no labeled item yet there is no training data: every item is equally novel and the choice is
``base``'s over the whole pool (random order without a base), logged at INFO.

Unlike ``coreset`` (greedy k-center, which also spreads picks among themselves) this is a filter: it does not
update distances as it picks, so a dense drifted cluster can fill the batch; wrap it in ``class-balanced`` or give a
diverse ``base`` (``badge``, ``kmeans``) to spread them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.strategies._faiss_ops import nearest
from labelloop.strategies.base import (
    Strategy,
    StrategyConfigError,
    StrategyInputs,
    check_float,
    register,
    select_top,
    strategy_from_config,
)

logger = logging.getLogger(__name__)


def novelty(
    embeddings: NDArray[np.floating], indices: NDArray[np.intp], reference: NDArray[np.intp]
) -> NDArray[np.float64]:
    """(len(indices),) Euclidean distance of each row ``embeddings[indices]`` to its nearest ``embeddings[reference]``
    row; ``reference`` must be non-empty."""
    sq, _ = nearest(embeddings[indices], embeddings[reference], k=1)
    return np.sqrt(np.maximum(sq[:, 0].astype(np.float64), 0.0))


@register("drift-weighted")
class DriftWeighted(Strategy):
    """Prefer unlabeled items far from the labeled (training) embeddings; optionally let ``base`` choose among them."""

    def __init__(self, *, base: Mapping[str, Any] | Strategy | None = None, candidate_multiplier: float = 3.0) -> None:
        if base is not None and not isinstance(base, Mapping | Strategy):
            raise StrategyConfigError(
                "The 'base' parameter of strategy 'drift-weighted' must be a strategy config "
                f"{{'name': ..., 'params': {{...}}}}, a Strategy or None. Got {base!r} instead."
            )
        self.base = None if base is None else strategy_from_config(base, key_path="drift-weighted.params.base")
        self.candidate_multiplier = check_float("drift-weighted", "candidate_multiplier", candidate_multiplier, low=1.0)

    @property
    def requires(self) -> frozenset[str]:
        return frozenset({"embeddings"}) | (self.base.requires if self.base is not None else frozenset())

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        emb = inputs.get("embeddings")
        if indices_labeled.size == 0:
            logger.info("drift_weighted no_labeled_items=1 picks_by=%s", self.base.name if self.base else "random")
            scores = np.zeros(indices_unlabeled.size)
        else:
            scores = novelty(emb, indices_unlabeled, indices_labeled)
        if self.base is None:
            return indices_unlabeled[select_top(scores, n, rng)]
        n_cand = min(indices_unlabeled.size, math.ceil(self.candidate_multiplier * n))
        cand = indices_unlabeled[select_top(scores, n_cand, rng)]
        logger.debug("drift_weighted candidates=%d pool=%d", n_cand, indices_unlabeled.size)
        return self.base.query(inputs, np.sort(cand), indices_labeled, n, rng=rng)
