"""Bayesian disagreement over stochastic forward passes (``requires={"proba_samples"}``, (n, k, T)).

:func:`bald` is the mutual information between an item's label and the model parameters (Houlsby et al., 2011),
estimated from T MC-dropout passes (Gal et al., 2017): ``H[mean_t p_t] - mean_t H[p_t]``. It is zero when all
passes agree, high when passes are individually confident but disagree (epistemic, not aleatoric, uncertainty).


:class:`BatchBALD` (``"batchbald"``, Kirsch et al., 2019) picks the batch greedily by the mutual information of the
*joint* labels of the batch with the parameters, so a batch does not hold ``n`` items the passes disagree on in the
same way. Greedy step: add the candidate x maximising ``H(y_x | y_1..y_{j-1}) - E_t H(y_x | w_t)`` (the batch's
other terms do not depend on x). The conditional entropy is estimated with ``n_configurations`` label
configurations of the picked items, sampled ancestrally from the joint predictive (each configuration extends by
one label per pick, drawn from its conditional), each carrying normalised weights over the T passes; the paper's
exact enumeration is used for no batch size here. Cost per re-estimated item O(configurations × T × k); the greedy
is lazy (gains only shrink, so stale gains are upper bounds) and the candidates are the ``candidate_multiplier ·
n`` items of highest BALD score (BALD ranks single items exactly as BatchBALD's first step does).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import entr

from labelloop.strategies.base import (
    ScoreStrategy,
    Strategy,
    StrategyInputs,
    argmax_random_tie,
    check_float,
    check_int,
    register,
    select_top,
)

logger = logging.getLogger(__name__)

_LAZY_FIRST_BATCH = 64


def bald(proba_samples: NDArray[np.floating]) -> NDArray[np.float64]:
    """(n,) BALD mutual information in nats for ``proba_samples`` (n, k, T); clipped at 0 (rounding)."""
    p = np.asarray(proba_samples, dtype=np.float64)
    mean = p.mean(axis=2)
    h_mean = entr(mean).sum(axis=1)
    mean_h = entr(p).sum(axis=1).mean(axis=1)
    return np.maximum(h_mean - mean_h, 0.0)


@register("bald")
class BALD(ScoreStrategy):
    """Pick the items with the highest BALD score over the MC-dropout passes."""

    required_inputs = frozenset({"proba_samples"})

    def __init__(self) -> None:
        pass

    def _score(self, inputs: StrategyInputs, indices: NDArray[np.intp]) -> NDArray[np.float64]:
        return bald(inputs.get("proba_samples")[indices])


def _entropy_rows(p: NDArray[np.float32], axis: int) -> NDArray[np.float32]:
    """Shannon entropy (nats) along ``axis``; 0·log 0 = 0."""
    return -np.sum(p * np.log(np.maximum(p, np.float32(1e-30))), axis=axis)


def batchbald_greedy(
    proba_samples: NDArray[np.floating], n: int, rng: np.random.Generator, *, n_configurations: int
) -> NDArray[np.intp]:
    """Greedy BatchBALD over the rows of ``proba_samples`` (c, k, T): ``n`` positions in 0..c-1, in pick order.

    ``weights`` (M, T): for each sampled configuration of the picked items' labels, the posterior weight of each
    pass given that configuration (∝ product of the passes' probabilities of those labels, renormalised after
    every pick so it never underflows). ``H(y_x | picked) ≈ mean_m H(sum_t weights[m, t] p_t(y_x))``.

    Lazy greedy (Minoux): the joint mutual information is submodular (Kirsch et al., 2019), so an item's gain only
    shrinks as the batch grows and its last computed gain bounds the current one. Each pick re-estimates the gains
    of the top-``b`` items by bound (b = 64, ×4 until the best fresh gain beats the next bound) instead of all c.
    """
    p = np.ascontiguousarray(np.moveaxis(np.asarray(proba_samples, dtype=np.float32), 2, 0))  # (T, c, k)
    t_passes, c, k = p.shape
    cond_h = _entropy_rows(p, axis=2).mean(axis=0)  # (c,) E_t H(y_x | w_t)
    weights = np.full((n_configurations, t_passes), 1.0 / t_passes, dtype=np.float32)
    bound = bald(proba_samples)  # the exact first-step gain of every item
    picks = np.empty(n, dtype=np.intp)
    for step in range(n):
        n_alive = c - step
        b = min(_LAZY_FIRST_BATCH, n_alive)
        while True:
            if b >= n_alive:
                rows, next_bound = np.flatnonzero(bound > -np.inf), -np.inf
            else:
                part = np.argpartition(-bound, b)
                rows, next_bound = part[:b], float(bound[part[b]])
            pred = np.einsum("mt,tck->mck", weights, p[:, rows, :])  # p(y_x | configuration m)
            fresh = (_entropy_rows(pred, axis=2).mean(axis=0) - cond_h[rows]).astype(np.float64)
            bound[rows] = fresh
            best = argmax_random_tie(fresh, rng)
            if fresh[best] >= next_bound or b >= n_alive:
                break
            b *= 4
        x = int(rows[best])
        picks[step] = x
        bound[x] = -np.inf
        # Extend every configuration with a label for x drawn from its conditional, then reweight the passes.
        cum = np.cumsum(pred[:, best, :], axis=1)
        draw = rng.random(n_configurations) * cum[:, -1]
        y = np.minimum((cum < draw[:, None]).sum(axis=1), k - 1)
        weights *= p[:, x, :][:, y].T
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), np.float32(1e-30))
    return picks


@register("batchbald")
class BatchBALD(Strategy):
    """BatchBALD: greedy joint mutual information, estimated with sampled label configurations.

    ``candidate_multiplier``: candidates = the ``ceil(candidate_multiplier · n)`` highest-BALD items.
    ``n_configurations``: sampled configurations M (estimator variance ∝ 1/M; cost ∝ M).
    """

    required_inputs = frozenset({"proba_samples"})

    def __init__(self, *, candidate_multiplier: float = 2.0, n_configurations: int = 64) -> None:
        self.candidate_multiplier = check_float("batchbald", "candidate_multiplier", candidate_multiplier, low=1.0)
        self.n_configurations = check_int("batchbald", "n_configurations", n_configurations, low=1)

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        samples = inputs.get("proba_samples")
        n_cand = min(indices_unlabeled.size, math.ceil(self.candidate_multiplier * n))
        cand = indices_unlabeled[select_top(bald(samples[indices_unlabeled]), n_cand, rng)]
        if n_cand == n:
            return cand
        logger.debug("batchbald candidates=%d configurations=%d", n_cand, self.n_configurations)
        return cand[batchbald_greedy(samples[cand], n, rng, n_configurations=self.n_configurations)]
