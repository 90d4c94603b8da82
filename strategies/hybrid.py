"""Hybrid strategies: uncertainty and diversity together, for large batches where top-n uncertainty picks
near-duplicates.

* :class:`Badge` (``"badge"``, Ash et al., 2020): k-means++ seeding on last-layer gradient embeddings
  ``g_i = (p_i - onehot(argmax p_i)) ⊗ x_i``. The norm of ``g_i`` grows with uncertainty, the direction encodes
  the item, so D² sampling trades both off. By default (``requires={"embeddings", "proba"}``, ``x_i`` = the
  features the last linear layer sees) ``g_i`` is never materialised: with ``a_i = p_i - onehot(argmax p_i)``,
  ``‖g_i - g_j‖² = ‖a_i‖²‖x_i‖² + ‖a_j‖²‖x_j‖² - 2 (a_i·a_j)(x_i·x_j)``, so each seeding step costs O(u·(d + k))
  instead of O(u·d·k) and no (u, d·k) array is built. ``use_grad_embeddings=True`` uses a head-provided
  ``grad_embeddings`` (n, D) instead.
* :class:`ClusterMargin` (``"cluster-margin"``, Citovsky et al., 2021): the ``margin_multiplier·n`` lowest-margin
  unlabeled items are clustered (average-linkage HAC), then picked round-robin from the smallest cluster up, one
  random member per cluster per round. Deviation from the paper, which clusters the whole pool once and reuses
  the clustering across rounds: a pure ``query`` keeps no state between rounds, so we cluster the candidates
  (HAC on c items costs O(c²) memory: 10,000 candidates ≈ 400 MB).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from labelloop.strategies._faiss_ops import as_f32
from labelloop.strategies.base import (
    Strategy,
    StrategyInputs,
    argmax_random_tie,
    check_bool,
    check_float,
    check_param,
    register,
    select_top,
)
from labelloop.strategies.uncertainty import margin
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def kmeans_pp_seeding(
    sq_norm: NDArray[np.float64],
    sq_dist_to: Callable[[int], NDArray[np.float64]],
    n: int,
    rng: np.random.Generator,
) -> NDArray[np.intp]:
    """k-means++ seeding as BADGE runs it: first the row of largest norm, then D² sampling.

    ``sq_norm`` (m,) squared norms of the (implicit) vectors; ``sq_dist_to(c)`` (m,) squared distances of every
    row to row ``c``. Returns ``n`` unique row positions in pick order. If every remaining row coincides with a
    chosen centre (all D² = 0), k-means++ is undefined; the remaining picks are drawn uniformly from the rows not
    yet chosen (logged at INFO).
    """
    m = sq_norm.size
    picks = np.empty(n, dtype=np.intp)
    chosen = np.zeros(m, dtype=bool)
    c = argmax_random_tie(sq_norm, rng)
    min_d = np.full(m, np.inf)
    for step in range(n):
        picks[step] = c
        chosen[c] = True
        np.minimum(min_d, np.maximum(sq_dist_to(c), 0.0), out=min_d)
        min_d[chosen] = 0.0
        if step == n - 1:
            break
        cum = np.cumsum(min_d)
        total = cum[-1]
        if total > 0.0:
            c = int(np.searchsorted(cum, rng.random() * total, side="right"))
            c = min(c, m - 1)
            while chosen[c]:  # only reachable through float rounding at a segment edge
                c = int(np.flatnonzero(~chosen & (min_d > 0))[0])
        else:
            logger.info("badge all_remaining_distances=0 step=%d picks_left=%d draw=uniform", step, n - step - 1)
            free = np.flatnonzero(~chosen)
            c = int(free[rng.integers(free.size)])
    return picks


def gradient_factors(proba: NDArray[np.floating]) -> NDArray[np.float32]:
    """(n, k) ``a_i = p_i - onehot(argmax p_i)``: the last-layer loss gradient's class factor for the
    hypothesised label (first class on ties)."""
    a = np.array(proba, dtype=np.float32)
    a[np.arange(a.shape[0]), a.argmax(axis=1)] -= 1.0
    return a


@register("badge")
class Badge(Strategy):
    """BADGE: k-means++ seeding on last-layer gradient embeddings (factored, or head-provided)."""

    def __init__(self, *, use_grad_embeddings: bool = False) -> None:
        self.use_grad_embeddings = check_bool("badge", "use_grad_embeddings", use_grad_embeddings)

    @property
    def requires(self) -> frozenset[str]:
        return frozenset({"grad_embeddings"}) if self.use_grad_embeddings else frozenset({"embeddings", "proba"})

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        if self.use_grad_embeddings:
            g = as_f32(inputs.get("grad_embeddings")[indices_unlabeled])
            g_sq = np.einsum("ij,ij->i", g, g).astype(np.float64)

            def dist(c: int) -> NDArray[np.float64]:
                return g_sq + g_sq[c] - 2.0 * (g @ g[c]).astype(np.float64)

            return indices_unlabeled[kmeans_pp_seeding(g_sq, dist, n, rng)]
        x = as_f32(inputs.get("embeddings")[indices_unlabeled])
        a = gradient_factors(inputs.get("proba")[indices_unlabeled])
        x_sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
        a_sq = np.einsum("ij,ij->i", a, a).astype(np.float64)
        sq_norm = a_sq * x_sq

        def factored_dist(c: int) -> NDArray[np.float64]:
            return sq_norm + sq_norm[c] - 2.0 * (a @ a[c]).astype(np.float64) * (x @ x[c]).astype(np.float64)

        return indices_unlabeled[kmeans_pp_seeding(sq_norm, factored_dist, n, rng)]


def round_robin_by_cluster(cluster: NDArray[np.integer], n: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Cluster-margin's sampler: positions in ``cluster`` (c,) (cluster id per candidate), ``n`` of them.

    Clusters are visited smallest first (equal sizes in ``rng`` order); each visit takes one random unvisited
    member; a cluster drops out when empty. Returns positions into ``cluster``, in pick order.
    """
    cluster = np.asarray(cluster)
    _, inv, sizes = np.unique(cluster, return_inverse=True, return_counts=True)
    cluster_rank = np.empty(sizes.size, dtype=np.intp)
    cluster_rank[np.lexsort((rng.random(sizes.size), sizes))] = np.arange(sizes.size)
    # Random rank of each member inside its cluster: the round in which it is taken.
    shuffled = np.lexsort((rng.random(inv.size), inv))
    within = np.empty(inv.size, dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within[shuffled] = np.arange(inv.size) - np.repeat(starts, sizes)
    order = np.lexsort((cluster_rank[inv], within))
    return order[:n].astype(np.intp)


@register("cluster-margin")
class ClusterMargin(Strategy):
    """Cluster-margin: lowest-margin candidates, clustered, picked round-robin from small clusters up.

    ``margin_multiplier``: candidates = ``ceil(margin_multiplier·n)`` lowest-margin items (capped at the pool).
    ``n_clusters``: HAC clusters among the candidates; ``None`` means ``n`` (one pick per cluster when the
    candidates split evenly).
    """

    required_inputs = frozenset({"embeddings", "proba"})

    def __init__(self, *, margin_multiplier: float = 10.0, n_clusters: int | None = None) -> None:
        self.margin_multiplier = check_float("cluster-margin", "margin_multiplier", margin_multiplier, low=1.0)
        ok = n_clusters is None or (
            isinstance(n_clusters, int | np.integer) and not isinstance(n_clusters, bool) and n_clusters >= 1
        )
        check_param("cluster-margin", "n_clusters", n_clusters, ok, "None or an int >= 1")
        self.n_clusters = None if n_clusters is None else int(n_clusters)

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        from scipy.cluster.hierarchy import fcluster, linkage

        n_cand = min(indices_unlabeled.size, math.ceil(self.margin_multiplier * n))
        cand = indices_unlabeled[select_top(-margin(inputs.get("proba")[indices_unlabeled]), n_cand, rng)]
        if n_cand == n:
            return cand
        x = inputs.get("embeddings")[cand].astype(np.float64)
        n_clusters = min(self.n_clusters or n, n_cand)
        tree = linkage(x, method="average", metric="euclidean")
        clusters = fcluster(tree, t=n_clusters, criterion="maxclust")
        logger.debug("cluster_margin candidates=%d clusters=%d", n_cand, int(np.unique(clusters).size))
        return cand[round_robin_by_cluster(clusters, n, rng)]
