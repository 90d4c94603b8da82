"""Graph-smoothed embeddings: a semi-supervised input for any head, built from the *unlabeled* pool.

Why: with 50-500 labels a head on frozen embeddings under-uses the pool. Mixing each embedding with the mean of its
nearest pool neighbours (feature propagation on a kNN graph, as in SGC, Wu et al. 2019) moves items of one dense
region towards each other, so a linear head needs fewer labels to place its boundary between regions.

Use :class:`KNNGraphSmoother` as a transformer in front of a head: ``fit`` on the pool's embeddings (no labels),
then ``transform`` both the pool and new items (test, fresh ingests); the head (e.g. ``logreg``) is trained on the
transformed rows. New items only *read* the pool graph: they never change the pool's features, so transforming a
test split leaks nothing into training.

Rows identical to the query (squared distance <= ``1e-10``) are not counted as neighbours, so a pool row (which would
otherwise find itself first) and a new row are transformed the same way: ``transform(X_pool)`` equals the features
``fit`` propagated over the pool.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

logger = logging.getLogger(__name__)

_MODES = ("replace", "concat")
_SAME = 1e-10  # squared distance under which a reference row counts as the query itself
_EXTRA = 8  # extra neighbours searched so that identical rows can be dropped


class KNNGraphSmoother(TransformerMixin, BaseEstimator):
    """Mix each row with its k nearest rows of a reference pool, ``n_hops`` times.

    Hop ``t`` (``h_0 = x``): ``h_{t+1} = (1 - alpha) * h_t + alpha * mean(H_t[N(x)])`` where ``N(x)`` are the
    ``n_neighbors`` nearest reference rows of ``x`` by L2 distance on the original embeddings and ``H_t`` the
    reference rows after ``t`` hops (computed in ``fit``).

    Parameters: ``n_neighbors`` (>= 1); ``alpha`` in [0, 1] (0: identity); ``n_hops`` (>= 1); ``mode``:
    ``"replace"`` returns ``h_K`` (d columns), ``"concat"`` returns ``[x, h_K]`` (2d columns); ``normalize``:
    L2-normalise ``h_K`` (the mean of unit vectors is shorter than one).
    Fitted: ``reference_`` (n, d) float32, ``hops_`` (n_hops, n, d) float32 (``H_0 .. H_{K-1}``),
    ``n_features_in_``.
    """

    def __init__(
        self, n_neighbors: int = 10, alpha: float = 0.5, n_hops: int = 1, mode: str = "replace", normalize: bool = True
    ) -> None:
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.n_hops = n_hops
        self.mode = mode
        self.normalize = normalize

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # faiss works in float32; the output always is
        return tags

    def _check_params(self) -> None:
        for name in ("n_neighbors", "n_hops"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"The '{name}' parameter of KNNGraphSmoother must be an int >= 1. Got {value!r}.")
        if not isinstance(self.alpha, int | float) or not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"The 'alpha' parameter of KNNGraphSmoother must be in [0, 1]. Got {self.alpha!r}.")
        if self.mode not in _MODES:
            raise ValueError(
                f"The 'mode' parameter of KNNGraphSmoother must be one of {list(_MODES)}. Got {self.mode!r}."
            )

    def fit(self, X: ArrayLike, y: object = None) -> KNNGraphSmoother:
        """``X`` (n, d): the unlabeled reference pool (``y`` is ignored: no labels are used)."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float32)
        if X.shape[0] < 2:
            raise ValueError(f"KNNGraphSmoother needs a reference pool of at least 2 rows, got {X.shape[0]} sample(s)")
        ref = np.ascontiguousarray(X, dtype=np.float32)
        self.reference_ = ref
        nbrs, valid = self._neighbours(ref)
        hops = [ref]
        for _ in range(self.n_hops - 1):
            hops.append(self._step(hops[-1], hops[-1], nbrs, valid))
        self.hops_ = np.stack(hops)
        logger.info(
            "graph smoother fitted n=%d d=%d k=%d alpha=%.2f hops=%d",
            ref.shape[0],
            ref.shape[1],
            self.n_neighbors,
            float(self.alpha),
            self.n_hops,
        )
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float32]:
        """(m, d) rows -> (m, d) smoothed rows (``"replace"``) or (m, 2d) ``[x, smoothed]`` (``"concat"``)."""
        check_is_fitted(self)
        X = np.ascontiguousarray(validate_data(self, X, reset=False, dtype=np.float32))
        nbrs, valid = self._neighbours(X)
        h = X
        for t in range(self.n_hops):
            h = self._step(h, self.hops_[t], nbrs, valid)
        if self.normalize:
            norms = np.linalg.norm(h, axis=1, keepdims=True)
            h = h / np.maximum(norms, np.float32(1e-12))
        out = h if self.mode == "replace" else np.hstack([X, h])
        return np.ascontiguousarray(out, dtype=np.float32)

    def _neighbours(self, X: NDArray[np.float32]) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        """(m, k) positions in ``reference_`` of each row's nearest non-identical rows and a (m, k) validity mask
        (False where fewer than k non-identical rows exist within the searched ``k + 8``)."""
        import faiss

        ref = self.reference_
        k = self.n_neighbors
        search = min(ref.shape[0], k + _EXTRA)
        index = faiss.IndexFlatL2(ref.shape[1])
        index.add(ref)
        dist, idx = index.search(X, search)
        keep = (dist > _SAME) & (idx >= 0)
        # Stable order: the first k kept columns of each row (nearest first).
        rank = np.cumsum(keep, axis=1)
        keep &= rank <= k
        cols = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        nbrs = np.take_along_axis(idx, cols, axis=1).astype(np.intp)
        valid = np.take_along_axis(keep, cols, axis=1)
        if k > search or not valid.all():
            short = int((~valid.all(axis=1)).sum())
            logger.info("graph smoother: %d rows have fewer than %d non-identical neighbours", short, k)
        return np.where(valid, nbrs, 0), valid

    def _step(
        self, h: NDArray[np.float32], H: NDArray[np.float32], nbrs: NDArray[np.intp], valid: NDArray[np.bool_]
    ) -> NDArray[np.float32]:
        w = valid.astype(np.float32)
        counts = w.sum(axis=1, keepdims=True)
        total = np.zeros_like(h)
        for j in range(nbrs.shape[1]):  # one (m, d) gather at a time: no (m, k, d) array
            total += w[:, j, None] * H[nbrs[:, j]]
        mean = total / np.maximum(counts, 1.0)
        a = np.float32(self.alpha)
        mixed = (1 - a) * h + a * mean
        # A row with no neighbour at all keeps its own features.
        return np.where(counts > 0, mixed, h).astype(np.float32)
