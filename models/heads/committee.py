"""A bootstrap committee of heads, for query-by-committee strategies (vote entropy, disagreement).

:meth:`BootstrapCommittee.predict_proba_members` gives every member's probabilities ``(m, n, k)``;
:meth:`BootstrapCommittee.predict_proba` their mean ``(n, k)``. Members are fitted on stratified bootstrap resamples
(each class resampled within itself), so every member sees every class and all outputs share the columns
``classes_``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from labelloop.models.heads.registry import get_head_class, register


@register("committee")
class BootstrapCommittee(ClassifierMixin, BaseEstimator):
    """``n_members`` heads of registry name ``base`` (built with ``base_params``), each on its own bootstrap sample.

    Seeds: member ``i`` gets bootstrap indices from ``np.random.default_rng([random_state, i])`` and, if the base head
    takes ``random_state``, that seed too. Fitted: ``classes_`` (k,), ``n_features_in_``, ``estimators_`` (m,).
    """

    def __init__(
        self, base: str = "logreg", n_members: int = 5, base_params: dict | None = None, random_state: int = 0
    ) -> None:
        self.base = base
        self.n_members = n_members
        self.base_params = base_params
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> BootstrapCommittee:
        """``X`` ``(n, d)``, ``y`` ``(n,)``."""
        if not isinstance(self.n_members, int | np.integer) or self.n_members < 1:
            raise ValueError(f"The 'n_members' parameter must be an int >= 1. Got {self.n_members!r} instead.")
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"BootstrapCommittee needs samples of at least 2 classes; got 1 class ({classes[0]!r})")
        head_cls = get_head_class(self.base)
        params = dict(self.base_params or {})
        takes_seed = "random_state" in head_cls().get_params()
        by_class = [np.flatnonzero(y_idx == c) for c in range(len(classes))]
        members = []
        for i in range(int(self.n_members)):
            rng = np.random.default_rng([int(self.random_state), i])
            idx = np.concatenate([rng.choice(rows, size=len(rows), replace=True) for rows in by_class])
            member_params = {**params, "random_state": int(self.random_state) * 1000 + i} if takes_seed else params
            members.append(head_cls(**member_params).fit(X[idx], y[idx]))
        self.classes_ = classes
        self.estimators_ = members
        return self

    def predict_proba_members(self, X: ArrayLike) -> NDArray[np.float64]:
        """Each member's probabilities: ``(m, n, k)``, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.stack([np.asarray(est.predict_proba(X), dtype=np.float64) for est in self.estimators_])

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Mean of the members' probabilities ``(n, k)``."""
        return self.predict_proba_members(X).mean(axis=0)

    def predict(self, X: ArrayLike) -> NDArray:
        """Most probable class per row ``(n,)``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
