"""Thin faiss-cpu helpers shared by the diversity, hybrid and cold-start strategies.

faiss wants C-contiguous float32; these functions convert once and return numpy arrays. Distances are squared
L2, as faiss computes them. faiss is imported inside the functions so that importing the package stays cheap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def as_f32(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """C-contiguous float32 view or copy of ``x``."""
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class KMeansResult:
    """``centroids`` (c, d) float32; ``assign`` (m,) cluster of each point; ``sq_dist`` (m,) to its centroid."""

    centroids: NDArray[np.float32]
    assign: NDArray[np.intp]
    sq_dist: NDArray[np.float32]


KMEANS_INITS = ("random", "kmeans++")


def kmeans(
    x: NDArray[np.floating],
    n_clusters: int,
    *,
    niter: int,
    rng: np.random.Generator,
    max_points_per_centroid: int,
    init: str = "random",
) -> KMeansResult:
    """Lloyd k-means with faiss, then assign every row of ``x`` (m, d).

    ``init="random"`` is faiss's own (distinct random rows, seeded from ``rng``): fast, but can merge
    well-separated groups. ``"kmeans++"`` seeds with D² sampling (exact, lazy; :mod:`._greedy`): better clusters
    for a few more seconds at 100,000 × 384. faiss trains on at most ``max_points_per_centroid * n_clusters``
    rows (a seeded subsample) and prints a warning when there are fewer than 39 rows per centroid; the final
    assignment always covers all rows.
    """
    import faiss

    xf = as_f32(x)
    km = faiss.Kmeans(
        xf.shape[1], int(n_clusters), niter=int(niter), seed=int(rng.integers(2**31 - 1)), verbose=False,
        max_points_per_centroid=int(max_points_per_centroid), min_points_per_centroid=1,
    )
    if init == "kmeans++":
        from labelloop.strategies._greedy import euclidean_oracle, kmeans_pp_seeding

        dist, sq = euclidean_oracle(xf)
        first = int(rng.integers(xf.shape[0]))
        seeds = kmeans_pp_seeding(dist, sq, int(n_clusters), rng, first=first)
        km.train(xf, init_centroids=xf[seeds])
    elif init == "random":
        km.train(xf)
    else:
        raise ValueError(f"init must be one of {KMEANS_INITS}, got {init!r}")
    sq_dist, assign = km.index.search(xf, 1)
    return KMeansResult(km.centroids.copy(), assign[:, 0].astype(np.intp), sq_dist[:, 0])


def nearest(
    queries: NDArray[np.floating], base: NDArray[np.floating], k: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
    """Exact k nearest rows of ``base`` (b, d) for each row of ``queries`` (q, d): (q, k) squared distances and
    (q, k) positions in ``base``."""
    import faiss

    bf = as_f32(base)
    index = faiss.IndexFlatL2(bf.shape[1])
    index.add(bf)
    dist, idx = index.search(as_f32(queries), int(k))
    return dist, idx.astype(np.intp)
