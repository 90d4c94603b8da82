"""Probability calibration on held-out labels, and the expected calibration error (ECE).

When to use what:

- :func:`expected_calibration_error` ``(probs (n, k), y_idx (n,))``: top-label ECE with equal-width bins; report it
  before and after calibration, on data used for neither fitting nor calibrating.
- :class:`TemperatureScaler`: one parameter, keeps the argmax (accuracy unchanged); the default, and the safe choice
  with few held-out labels (tens to hundreds).
- :class:`IsotonicCalibrator`: one-vs-rest isotonic maps, then rows renormalised; more flexible, needs more held-out
  labels (≈1,000+), may change the argmax.
- :class:`CalibratedHead` ``(head, method)``: wraps an already fitted head; ``fit(X_cal, y_cal)`` fits only the
  calibrator on the head's probabilities (the head is not refitted), ``predict_proba`` returns calibrated ones.

Labels are given as column indices into the head's ``classes_``; :func:`labels_to_index` converts.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

_EPS = 1e-12


def labels_to_index(classes: NDArray, y: ArrayLike) -> NDArray[np.int64]:
    """Map labels ``y`` (n,) to column indices of ``classes`` (k,); an unknown label is a ``ValueError``."""
    y = np.asarray(y)
    order = np.argsort(classes)
    pos = np.searchsorted(classes, y, sorter=order)
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = order[pos]
    bad = classes[idx] != y
    if bad.any():
        raise ValueError(f"{int(bad.sum())} labels are not among the head's classes, e.g. {y[bad][0]!r}")
    return idx.astype(np.int64)


def _check(probs: ArrayLike, y_idx: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_idx, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"probs must be (n, k) and y_idx (n,); got {p.shape} and {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"y_idx must be column indices in [0, {p.shape[1]}); got range [{y.min()}, {y.max()}]")
    return p, y


def expected_calibration_error(probs: ArrayLike, y_idx: ArrayLike, *, n_bins: int = 15) -> float:
    """Top-label ECE: Σ_b (|b| / n) · |accuracy(b) − mean confidence(b)| over ``n_bins`` equal-width confidence bins.

    ``probs`` ``(n, k)``, ``y_idx`` ``(n,)`` true column indices. 0 is perfect; the bins are (lo, hi], the first
    includes 0.
    """
    p, y = _check(probs, y_idx)
    if len(y) == 0:
        raise ValueError("expected_calibration_error needs at least one row")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


class Calibrator(Protocol):
    def fit(self, probs: ArrayLike, y_idx: ArrayLike) -> Calibrator: ...

    def transform(self, probs: ArrayLike) -> NDArray[np.float64]: ...


class TemperatureScaler(BaseEstimator):
    """Softmax(log p / T) with one temperature ``temperature_`` fitted by minimising the held-out negative
    log-likelihood (T in [0.05, 20], bounded 1-D search over log T). T > 1 softens over-confident heads."""

    def fit(self, probs: ArrayLike, y_idx: ArrayLike) -> TemperatureScaler:
        p, y = _check(probs, y_idx)
        logp = np.log(np.clip(p, _EPS, 1.0))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1))
            return float(-(z[np.arange(len(y)), y] - log_norm).mean())

        res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
        self.temperature_ = float(np.exp(res.x))
        return self

    def transform(self, probs: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "temperature_")
        z = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0)) / self.temperature_
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class IsotonicCalibrator(BaseEstimator):
    """One isotonic map per class (probability of that class vs the rest), then rows renormalised to sum to 1.

    Fitted: ``calibrators_`` (k,) ``IsotonicRegression``.
    """

    def fit(self, probs: ArrayLike, y_idx: ArrayLike) -> IsotonicCalibrator:
        p, y = _check(probs, y_idx)
        self.calibrators_ = [
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, c], (y == c).astype(np.float64))
            for c in range(p.shape[1])
        ]
        return self

    def transform(self, probs: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "calibrators_")
        p = np.asarray(probs, dtype=np.float64)
        out = np.column_stack([cal.predict(p[:, c]) for c, cal in enumerate(self.calibrators_)])
        sums = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.where(sums > _EPS, out / np.maximum(sums, _EPS), uniform)


def make_calibrator(method: Literal["temperature", "isotonic"]) -> Calibrator:
    """An unfitted calibrator by name."""
    if method == "temperature":
        return TemperatureScaler()
    if method == "isotonic":
        return IsotonicCalibrator()
    raise ValueError(f"unknown calibration method {method!r}; known: 'isotonic', 'temperature'")


class CalibratedHead(BaseEstimator):
    """A fitted head plus a calibrator fitted on held-out data (the head itself is never refitted here).

    ``fit(X_cal, y_cal)``: ``X_cal`` ``(n, d)`` not used to fit the head, ``y_cal`` (n,) labels among
    ``head.classes_``. ``predict_proba(X)`` → calibrated ``(n, k)``.
    """

    def __init__(self, head: object, method: Literal["temperature", "isotonic"] = "temperature") -> None:
        self.head = head
        self.method = method

    def fit(self, X_cal: ArrayLike, y_cal: ArrayLike) -> CalibratedHead:
        check_is_fitted(self.head)
        self.classes_ = self.head.classes_
        probs = self.head.predict_proba(X_cal)
        self.calibrator_ = make_calibrator(self.method).fit(probs, labels_to_index(self.classes_, y_cal))
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "calibrator_")
        return self.calibrator_.transform(self.head.predict_proba(X))

    def predict(self, X: ArrayLike) -> NDArray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
