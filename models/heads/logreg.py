"""Logistic regression on embeddings: the default head (fast, convex, well-calibrated enough to start from).

Use it unless a strategy needs stochastic passes (then :mod:`labelloop.models.heads.mlp`) or a committee
(:mod:`labelloop.models.heads.committee`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from labelloop.models.heads.registry import register


@register("logreg")
class LogRegHead(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression (L2, lbfgs).

    Parameters: ``C`` inverse regularisation strength; ``max_iter``; ``class_weight`` (None or ``"balanced"``);
    ``random_state`` (kept for a uniform head interface; lbfgs is deterministic).
    Fitted: ``classes_`` (k,), ``n_features_in_``, ``n_iter_``, ``estimator_`` (the fitted ``LogisticRegression``).
    """

    def __init__(
        self, C: float = 1.0, max_iter: int = 1000, class_weight: str | None = None, random_state: int | None = 0
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> LogRegHead:
        """``X`` ``(n, d)`` embeddings, ``y`` ``(n,)`` labels (any hashable type)."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.estimator_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, random_state=self.random_state
        ).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.n_iter_ = self.estimator_.n_iter_
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.decision_function(X)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities ``(n, k)``, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.predict_proba(X)

    def predict(self, X: ArrayLike) -> NDArray:
        """Most probable class per row ``(n,)``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
