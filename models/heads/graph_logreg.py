"""Logistic regression on graph-smoothed embeddings: the head that uses the unlabeled pool.

Why: with few labels, a linear head on frozen embeddings under-uses the pool. :class:`KNNGraphSmoother` mixes each
embedding with its nearest pool neighbours, so a dense region moves together and the boundary needs fewer labels
(AG News in ``bench/strategies.md``: random sampling reached 95% of full-pool accuracy with 83 labels on this head
against 267 with plain ``logreg``; on TREC it did not help, so measure before switching).

The head is transductive: ``fit(X, y, X_unlabeled=pool)`` builds the graph from the labelled rows plus the pool
(``labelloop train`` passes the embeddings of every item outside the evaluation split, see
:attr:`GraphLogRegHead.uses_unlabeled`); ``predict_proba`` on any rows only *reads* that graph. The fitted model keeps
the reference rows (``(n_hops + 1) × pool × d`` float32; ``max_reference`` caps the pool, sampled with
``random_state``), so artifacts grow with the pool: about 60 MB for 20,000 items of 384 dimensions at 1 hop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from labelloop.models.heads.graph_smoothing import KNNGraphSmoother
from labelloop.models.heads.registry import register


@register("graph-logreg")
class GraphLogRegHead(ClassifierMixin, BaseEstimator):
    """:class:`KNNGraphSmoother` (fitted on labelled + unlabeled rows) followed by multinomial logistic regression.

    Parameters: smoother ``n_neighbors``, ``alpha``, ``n_hops``, ``mode`` (defaults: the setting tuned on AG News'
    validation split); ``max_reference`` rows kept as the graph's pool; logistic regression ``C``, ``max_iter``,
    ``class_weight``; ``random_state`` (pool sampling).
    Fitted: ``classes_``, ``n_features_in_``, ``n_iter_``, ``smoother_``, ``estimator_``.
    """

    uses_unlabeled = True  # training code passes X_unlabeled to fit

    def __init__(
        self,
        n_neighbors: int = 10,
        alpha: float = 0.5,
        n_hops: int = 2,
        mode: str = "replace",
        max_reference: int = 20_000,
        C: float = 1.0,
        max_iter: int = 1000,
        class_weight: str | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.n_hops = n_hops
        self.mode = mode
        self.max_reference = max_reference
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike, X_unlabeled: ArrayLike | None = None) -> GraphLogRegHead:
        """``X`` ``(n, d)`` labelled embeddings, ``y`` ``(n,)`` labels; ``X_unlabeled`` ``(m, d)`` the pool the graph
        is built from (with ``X``; without it the graph has only the labelled rows)."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        if not isinstance(self.max_reference, int) or self.max_reference < 2:
            raise ValueError(f"The 'max_reference' parameter must be an int >= 2. Got {self.max_reference!r}.")
        pool = X
        if X_unlabeled is not None:
            extra = np.asarray(X_unlabeled, dtype=np.float32)
            if extra.ndim != 2 or (len(extra) and extra.shape[1] != X.shape[1]):
                raise ValueError(f"X_unlabeled must be (m, {X.shape[1]}), got shape {extra.shape}")
            pool = np.vstack([X, extra]) if len(extra) else X
        if len(pool) > self.max_reference:
            rng = np.random.default_rng(self.random_state)
            pool = pool[np.sort(rng.choice(len(pool), size=self.max_reference, replace=False))]
        self.smoother_ = KNNGraphSmoother(
            n_neighbors=self.n_neighbors, alpha=self.alpha, n_hops=self.n_hops, mode=self.mode
        ).fit(pool)
        self.estimator_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, random_state=self.random_state
        ).fit(self.smoother_.transform(X), y)
        self.classes_ = self.estimator_.classes_
        self.n_iter_ = self.estimator_.n_iter_
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities ``(n, k)``, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return self.estimator_.predict_proba(self.smoother_.transform(X))

    def predict(self, X: ArrayLike) -> NDArray:
        """Most probable class per row ``(n,)``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
