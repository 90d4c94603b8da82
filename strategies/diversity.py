"""Diversity sampling on embeddings (``requires={"embeddings"}``, (n, d)); no model uncertainty used.

* :class:`CoreSet` (``"coreset"``, Sener & Savarese, 2018): greedy k-centre. Covers the embedding space so that
  every unlabeled item is close to a labeled or picked one; good when the model is weak or the batch is large.
  Initial distances to the labeled set come from an exact faiss search; the greedy loop is exact but updates
  distances lazily in batches (:mod:`._greedy`).
* :class:`KMeansSampling` (``"kmeans"``): faiss k-means with ``n`` clusters on the unlabeled rows, then the
  member nearest to each centroid. Representative rather than extreme picks; biggest clusters first.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from labelloop.strategies._faiss_ops import KMEANS_INITS, as_f32, kmeans, nearest
from labelloop.strategies._greedy import euclidean_oracle, greedy_k_center
from labelloop.strategies.base import (
    Strategy,
    StrategyInputs,
    check_choice,
    check_int,
    register,
)

logger = logging.getLogger(__name__)


@register("coreset")
class CoreSet(Strategy):
    """Greedy k-centre over the unlabeled embeddings, with the labeled items as existing centres.

    ``refresh_every``: centres between full distance refreshes (a speed knob; picks are exact for any value).
    """

    required_inputs = frozenset({"embeddings"})

    def __init__(self, *, refresh_every: int = 64) -> None:
        self.refresh_every = check_int("coreset", "refresh_every", refresh_every, low=1)

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        emb = inputs.get("embeddings")
        x_unl = emb[indices_unlabeled]
        init = None
        if indices_labeled.size:
            init = nearest(x_unl, emb[indices_labeled], 1)[0][:, 0]
        dist, _ = euclidean_oracle(x_unl)
        picks = greedy_k_center(dist, x_unl.shape[0], n, rng, init_sq_dist=init, refresh_every=self.refresh_every)
        return indices_unlabeled[picks]


def nearest_to_centroids(
    x: NDArray[np.floating],
    n: int,
    rng: np.random.Generator,
    *,
    niter: int,
    max_points_per_centroid: int,
    init: str = "random",
) -> NDArray[np.intp]:
    """k-means (``n`` clusters) on ``x`` (m, d), then one row per cluster: the member nearest its centroid.

    Returns ``n`` unique positions (rows of ``x``), biggest clusters first; ties in distance broken by ``rng``.
    A cluster left empty by the final assignment gets its nearest row not yet picked (logged).
    """
    res = kmeans(x, n, niter=niter, rng=rng, max_points_per_centroid=max_points_per_centroid, init=init)
    m = res.assign.size
    order = np.lexsort((rng.random(m), res.sq_dist, res.assign))
    first = np.ones(m, dtype=bool)
    first[1:] = res.assign[order][1:] != res.assign[order][:-1]
    reps = order[first]  # one per non-empty cluster, in cluster-id order
    rep_cluster = res.assign[reps]
    sizes = np.bincount(res.assign, minlength=n)
    reps = reps[np.lexsort((rng.random(reps.size), -sizes[rep_cluster]))]
    if reps.size == n:
        return reps.astype(np.intp)
    empty = np.flatnonzero(sizes == 0)
    logger.info("kmeans empty_clusters=%d filled_with=nearest_unpicked", empty.size)
    xf = as_f32(x)
    taken = np.zeros(m, dtype=bool)
    taken[reps] = True
    extra = []
    sq_norm = np.einsum("ij,ij->i", xf, xf)
    for c in empty:
        d = sq_norm - 2.0 * (xf @ res.centroids[c])
        d[taken] = np.inf
        j = int(np.argmin(d))
        taken[j] = True
        extra.append(j)
    return np.concatenate([reps, np.asarray(extra, dtype=np.intp)]).astype(np.intp)


@register("kmeans")
class KMeansSampling(Strategy):
    """One pick per k-means cluster of the unlabeled embeddings (the member nearest its centroid).

    ``niter`` Lloyd iterations (cost ≈ niter·rows·n·d); faiss trains on a seeded subsample of at most
    ``max_points_per_centroid·n`` rows and then assigns every row. Default 32 per centroid: for 1,000 picks from
    100,000 rows, 32,000 training rows, ≈2.5× less time than all rows for +1.1% inertia over all rows (measured
    on the synthetic data of scripts/bench_selection.py; one pick per cluster hardly feels that);
    ``init``: ``"random"`` (faiss's, fastest; may merge separated groups) or ``"kmeans++"``.
    """

    required_inputs = frozenset({"embeddings"})

    def __init__(self, *, niter: int = 10, max_points_per_centroid: int = 32, init: str = "random") -> None:
        self.niter = check_int("kmeans", "niter", niter, low=1)
        self.max_points_per_centroid = check_int("kmeans", "max_points_per_centroid", max_points_per_centroid, low=1)
        self.init = check_choice("kmeans", "init", init, KMEANS_INITS)

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        x = inputs.get("embeddings")[indices_unlabeled]
        picks = nearest_to_centroids(
            x, n, rng, niter=self.niter, max_points_per_centroid=self.max_points_per_centroid, init=self.init
        )
        return indices_unlabeled[picks]
