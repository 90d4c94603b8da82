"""The ``random`` baseline: uniform sampling without replacement, the reference every strategy must beat."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from labelloop.strategies.base import Strategy, StrategyInputs, register


@register("random")
class RandomSampling(Strategy):
    """Pick ``n`` unlabeled positions uniformly at random with the round's generator."""

    required_inputs = frozenset()

    def __init__(self) -> None:
        pass

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        return rng.choice(indices_unlabeled, size=n, replace=False)
