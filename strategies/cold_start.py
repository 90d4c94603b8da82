"""Cold start: what to label first when there is no model yet (``requires={"embeddings"}``).

:class:`TypiClust` (``"typiclust"``, Hacohen et al., 2022, the TPC-RP variant): k-means the whole pool's
embeddings into ``min(labeled + n, max_clusters)`` clusters, then repeatedly take the cluster with the fewest
labeled-or-picked items (largest first on equal counts) and pick its most *typical* unlabeled member, typicality
being the inverse mean distance to its ``k_neighbors`` nearest neighbours inside the cluster. With a low budget,
typical (dense, central) items teach more than uncertain ones, and uncertainty needs a model anyway. It also
works with labels (labeled items count as covering their cluster).

Clusters smaller than ``min_cluster_size`` (outliers) are used only after every larger cluster has no unlabeled
member left (logged at INFO when it happens). Plain ``"kmeans"`` (:mod:`.diversity`) is the simpler cold-start
alternative: one pick per cluster, nearest the centroid.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from labelloop.strategies._faiss_ops import KMEANS_INITS, kmeans
from labelloop.strategies.base import Strategy, StrategyInputs, argmax_random_tie, check_choice, check_int, register

logger = logging.getLogger(__name__)


def neg_mean_knn_distance(x: NDArray[np.floating], k_neighbors: int) -> NDArray[np.float64]:
    """(m,) minus the mean Euclidean distance of each row of ``x`` (m, d) to its ``k_neighbors`` nearest other
    rows (``min(k_neighbors, m - 1)``; 0 when m == 1). Higher = more typical; same order as typicality
    ``1 / mean distance`` but finite for duplicates."""
    m = x.shape[0]
    k = min(k_neighbors, m - 1)
    if k <= 0:
        return np.zeros(m)
    xf = x.astype(np.float64)
    sq = np.einsum("ij,ij->i", xf, xf)
    out = np.empty(m)
    for start in range(0, m, 1024):  # (1024, m) block of the distance matrix at a time
        stop = min(start + 1024, m)
        d2 = np.maximum(sq[start:stop, None] + sq[None, :] - 2.0 * (xf[start:stop] @ xf.T), 0.0)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        near = np.partition(d2, k - 1, axis=1)[:, :k]
        out[start:stop] = -np.sqrt(near).mean(axis=1)
    return out


@register("typiclust")
class TypiClust(Strategy):
    """TypiClust (TPC-RP) cold-start selection: the most typical item of each of the largest uncovered clusters.

    ``init``: k-means initialisation, ``"random"`` (faiss's, fastest) or ``"kmeans++"`` (better separated
    clusters, a few seconds more at 100,000 items).
    """

    required_inputs = frozenset({"embeddings"})

    def __init__(
        self,
        *,
        max_clusters: int = 500,
        k_neighbors: int = 20,
        min_cluster_size: int = 5,
        niter: int = 10,
        init: str = "random",
    ) -> None:
        self.max_clusters = check_int("typiclust", "max_clusters", max_clusters, low=1)
        self.k_neighbors = check_int("typiclust", "k_neighbors", k_neighbors, low=1)
        self.min_cluster_size = check_int("typiclust", "min_cluster_size", min_cluster_size, low=1)
        self.niter = check_int("typiclust", "niter", niter, low=1)
        self.init = check_choice("typiclust", "init", init, KMEANS_INITS)

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        emb = inputs.get("embeddings")
        members = np.concatenate([indices_unlabeled, indices_labeled])  # row r of the clustering = members[r]
        n_clusters = min(indices_labeled.size + n, self.max_clusters, members.size)
        res = kmeans(emb[members], n_clusters, niter=self.niter, rng=rng, max_points_per_centroid=256, init=self.init)
        sizes = np.bincount(res.assign, minlength=n_clusters)
        is_unl = np.zeros(members.size, dtype=bool)
        is_unl[: indices_unlabeled.size] = True
        covered = np.bincount(res.assign[~is_unl], minlength=n_clusters).astype(np.int64)
        free = np.bincount(res.assign[is_unl], minlength=n_clusters).astype(np.int64)
        small = sizes < self.min_cluster_size
        tiebreak = rng.random(n_clusters)
        typicality: dict[int, NDArray[np.float64]] = {}
        member_rows: dict[int, NDArray[np.intp]] = {}
        available = is_unl.copy()
        picks = np.empty(n, dtype=np.intp)
        warned = False
        with threadpool_limits(limits=1, user_api="blas"):
            for step in range(n):
                eligible = (free > 0) & ~small
                if not eligible.any():
                    eligible = free > 0
                    if not warned:
                        logger.info("typiclust using_small_clusters=1 min_cluster_size=%d step=%d",
                                    self.min_cluster_size, step)
                        warned = True
                cand = np.flatnonzero(eligible)
                best = int(cand[np.lexsort((tiebreak[cand], -sizes[cand], covered[cand]))[0]])
                if best not in typicality:
                    rows = np.flatnonzero(res.assign == best)
                    member_rows[best] = rows
                    typicality[best] = neg_mean_knn_distance(emb[members[rows]], self.k_neighbors)
                rows = member_rows[best]
                score = np.where(available[rows], typicality[best], -np.inf)
                row = rows[argmax_random_tie(score, rng)]
                available[row] = False
                picks[step] = members[row]
                covered[best] += 1
                free[best] -= 1
        return picks
