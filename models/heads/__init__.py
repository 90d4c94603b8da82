"""Heads: scikit-learn-style classifiers on embeddings ``(n, d)``, chosen by registry name, plus calibration.

When to use what:

- ``make_head("logreg")`` (:class:`LogRegHead`): the default; probabilities ``(n, k)`` for uncertainty strategies.
- ``make_head("mlp")`` (:class:`MLPHead`): when a strategy needs stochastic passes; ``predict_proba_samples(X, T)``
  gives MC-dropout probabilities ``(n, k, T)`` (BALD).
- ``make_head("graph-logreg")`` (:class:`GraphLogRegHead`): logistic regression on embeddings smoothed over a kNN graph
  of the unlabeled pool (:class:`KNNGraphSmoother`); fewer labels where the pool clusters well (AG News), none saved
  where it does not (TREC). ``labelloop train`` hands it the pool.
- ``make_head("committee", base="logreg", n_members=5)`` (:class:`BootstrapCommittee`): query by committee;
  ``predict_proba_members(X)`` gives ``(m, n, k)``.
- :class:`CalibratedHead` / :func:`expected_calibration_error`: calibrate a fitted head on held-out labels
  (temperature by default, isotonic with more labels) and report ECE before and after.

All heads: config-only constructor, ``fit(X, y) -> self``, ``predict_proba``, ``predict``, fitted attributes end in
``_``. New heads: decorate the class with ``@register("name")``. torch is imported only when an MLP is fitted.
"""

from labelloop.models.heads.calibration import (
    CalibratedHead,
    IsotonicCalibrator,
    TemperatureScaler,
    expected_calibration_error,
    labels_to_index,
    make_calibrator,
)
from labelloop.models.heads.committee import BootstrapCommittee
from labelloop.models.heads.graph_logreg import GraphLogRegHead
from labelloop.models.heads.graph_smoothing import KNNGraphSmoother
from labelloop.models.heads.logreg import LogRegHead
from labelloop.models.heads.mlp import MLPHead
from labelloop.models.heads.registry import (
    UnknownHeadError,
    available_heads,
    fit_head,
    get_head_class,
    make_head,
    register,
    uses_unlabeled,
)

__all__ = [
    "BootstrapCommittee",
    "CalibratedHead",
    "GraphLogRegHead",
    "IsotonicCalibrator",
    "KNNGraphSmoother",
    "LogRegHead",
    "MLPHead",
    "TemperatureScaler",
    "UnknownHeadError",
    "available_heads",
    "expected_calibration_error",
    "fit_head",
    "get_head_class",
    "labels_to_index",
    "make_calibrator",
    "make_head",
    "register",
    "uses_unlabeled",
]
