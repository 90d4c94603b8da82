"""Drift between the data a model was trained on and a new batch: embeddings, predicted labels, confidence.

When to use what:

* :func:`detect_drift` ``(reference_embeddings, batch_embeddings, *, reference_proba, batch_proba, config, rng)``:
  every test the config asks for, and ``alert`` when any crosses its threshold (:class:`DriftReport`).
* :func:`mmd_test`: embedding two-sample test. Squared maximum mean discrepancy with a Gaussian (RBF) kernel whose
  bandwidth is the median pairwise distance of the pooled sample (median heuristic), p-value by permutation. Each
  side is subsampled to ``max_samples`` rows so the kernel matrix stays small ((2·max_samples)² floats).
* :func:`classifier_auc_test`: domain classifier. Logistic regression told to separate reference from batch,
  scored by cross-validated ROC AUC: 0.5 means indistinguishable, 1.0 means fully separable. Easier to read than a
  p-value; its threshold is set in the config.
* :func:`label_shift`: PSI of the predicted-label distribution, with a chi-square test of homogeneity.
* :func:`confidence_drop`: mean max-probability of the reference minus that of the batch.

Which reference: the embedding tests compare against the embeddings the model was trained on. The output tests
(``*_proba``) need the model's outputs on *held-out* items of the training distribution (e.g. its calibration or
evaluation split): on its own training items a model is over-confident, and the batch would look drifted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.engine.config import DriftConfig

log = logging.getLogger(__name__)

__all__ = [
    "DriftReport",
    "LabelShift",
    "TwoSampleResult",
    "classifier_auc_test",
    "confidence_drop",
    "detect_drift",
    "label_shift",
    "mmd_test",
]

_PSI_FLOOR = 1e-4  # share given to a class absent on one side, so PSI stays finite


@dataclass(frozen=True)
class TwoSampleResult:
    """An embedding test: its statistic, p-value (MMD) or AUC (classifier), and the sample sizes used."""

    method: str
    statistic: float
    p_value: float | None
    n_reference: int
    n_batch: int
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelShift:
    """Predicted-label distribution of reference and batch (shares per class index), PSI and chi-square test."""

    psi: float
    chi2: float
    chi2_p_value: float
    reference_share: list[float]
    batch_share: list[float]


@dataclass(frozen=True)
class DriftReport:
    """Every test run, the thresholds, which tests fired (``reasons``) and the verdict ``alert``."""

    alert: bool
    reasons: list[str]
    mmd: TwoSampleResult | None
    classifier: TwoSampleResult | None
    label_shift: LabelShift | None
    confidence_drop: float | None
    thresholds: dict[str, Any]
    n_reference: int
    n_batch: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------- validation
def _as_matrix(name: str, x: NDArray[np.floating], *, min_rows: int = 2) -> NDArray[np.float64]:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name} has {n_bad} non-finite values")
    return arr


def _subsample(x: NDArray[np.float64], max_rows: int, rng: np.random.Generator) -> NDArray[np.float64]:
    if x.shape[0] <= max_rows:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=max_rows, replace=False))]


# ------------------------------------------------------------------------------------------------------ tests
def mmd_test(
    reference: NDArray[np.floating],
    batch: NDArray[np.floating],
    *,
    max_samples: int = 500,
    permutations: int = 500,
    rng: np.random.Generator,
) -> TwoSampleResult:
    """Permutation test of equal distributions with the (biased, V-statistic) squared MMD and an RBF kernel.

    ``reference`` (n, d) and ``batch`` (m, d); each is subsampled to ``max_samples`` rows with ``rng``. Kernel
    ``exp(-||x - y||² / (2 σ²))`` with ``σ`` = median pairwise distance of the pooled rows. The p-value is
    ``(1 + #{permuted MMD² >= observed}) / (1 + permutations)``: exact under the null for any statistic, and all
    permutations reuse one kernel matrix (each is a quadratic form ``wᵀKw`` with ±1/n weights).
    """
    x = _subsample(_as_matrix("reference embeddings", reference), max_samples, rng)
    y = _subsample(_as_matrix("batch embeddings", batch), max_samples, rng)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"reference has {x.shape[1]} dimensions, batch {y.shape[1]}")
    z = np.vstack([x, y])
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    upper = d2[np.triu_indices_from(d2, k=1)]
    median_d2 = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    k = np.exp(-d2 / median_d2)  # σ² = median(d²)/2 → 2σ² = median(d²)
    n, m = x.shape[0], y.shape[0]
    w = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    observed = float(w @ k @ w)
    perms = np.stack([rng.permutation(w) for _ in range(permutations)], axis=1)  # (n + m, P)
    null = np.einsum("ip,ip->p", perms, k @ perms)
    p_value = float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + permutations))
    return TwoSampleResult("mmd-rbf-permutation", observed, p_value, n, m,
                           {"bandwidth": float(np.sqrt(median_d2 / 2.0)), "null_mean": float(null.mean())})  # fmt: skip


def classifier_auc_test(
    reference: NDArray[np.floating],
    batch: NDArray[np.floating],
    *,
    max_samples: int = 500,
    folds: int = 5,
    rng: np.random.Generator,
) -> TwoSampleResult:
    """Cross-validated ROC AUC of a logistic regression separating ``reference`` from ``batch`` rows
    (subsampled to ``max_samples`` each, classes balanced by weight). Out-of-fold scores, so the AUC of an
    indistinguishable batch is ≈ 0.5 and does not grow with the model's capacity to memorise."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = _subsample(_as_matrix("reference embeddings", reference), max_samples, rng)
    y = _subsample(_as_matrix("batch embeddings", batch), max_samples, rng)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"reference has {x.shape[1]} dimensions, batch {y.shape[1]}")
    folds = min(folds, x.shape[0], y.shape[0])
    if folds < 2:
        raise ValueError("the classifier test needs at least 2 rows on each side")
    z = np.vstack([x, y])
    target = np.concatenate([np.zeros(x.shape[0]), np.ones(y.shape[0])])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    clf = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
    scores = cross_val_predict(clf, z, target, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(target, scores))
    return TwoSampleResult("domain-classifier-auc", auc, None, x.shape[0], y.shape[0], {"folds": float(folds)})


def _check_proba(name: str, proba: NDArray[np.floating]) -> NDArray[np.float64]:
    p = _as_matrix(name, proba, min_rows=1)
    if p.min() < 0 or np.abs(p.sum(axis=1) - 1.0).max() > 1e-3:
        raise ValueError(f"{name} rows must be probability distributions (non-negative, summing to 1)")
    return p


def label_shift(reference_proba: NDArray[np.floating], batch_proba: NDArray[np.floating]) -> LabelShift:
    """PSI and chi-square homogeneity test of the predicted labels (``argmax``) of reference (n, k) and batch (m, k).

    ``PSI = Σ (b - r) ln(b / r)`` over class shares, a class absent on one side counted at a share of 1e-4 (the
    usual reading: < 0.1 stable, 0.1–0.25 moderate, > 0.25 large). The chi-square test runs on the 2 × k counts
    table without the classes neither side predicts.
    """
    from scipy.stats import chi2_contingency

    r, b = _check_proba("reference_proba", reference_proba), _check_proba("batch_proba", batch_proba)
    if r.shape[1] != b.shape[1]:
        raise ValueError(f"reference_proba has {r.shape[1]} classes, batch_proba {b.shape[1]}")
    k = r.shape[1]
    rc = np.bincount(r.argmax(axis=1), minlength=k).astype(np.float64)
    bc = np.bincount(b.argmax(axis=1), minlength=k).astype(np.float64)
    rs, bs = rc / rc.sum(), bc / bc.sum()
    rf, bf = np.maximum(rs, _PSI_FLOOR), np.maximum(bs, _PSI_FLOOR)
    psi = float(np.sum((bf - rf) * np.log(bf / rf)))
    used = (rc + bc) > 0
    if used.sum() >= 2:
        chi2, p, _, _ = chi2_contingency(np.vstack([rc[used], bc[used]]))
        chi2, p = float(chi2), float(p)
    else:  # one class on both sides: identical distributions
        chi2, p = 0.0, 1.0
    return LabelShift(psi, chi2, p, rs.tolist(), bs.tolist())


def confidence_drop(reference_proba: NDArray[np.floating], batch_proba: NDArray[np.floating]) -> float:
    """Mean max-probability of the reference minus that of the batch (positive: the model is less sure now)."""
    r, b = _check_proba("reference_proba", reference_proba), _check_proba("batch_proba", batch_proba)
    return float(r.max(axis=1).mean() - b.max(axis=1).mean())


# ----------------------------------------------------------------------------------------------------- verdict
def detect_drift(
    reference_embeddings: NDArray[np.floating],
    batch_embeddings: NDArray[np.floating],
    *,
    reference_proba: NDArray[np.floating] | None = None,
    batch_proba: NDArray[np.floating] | None = None,
    config: DriftConfig | None = None,
    rng: np.random.Generator,
) -> DriftReport:
    """Run the configured tests and raise ``alert`` when any crosses its threshold.

    ``reference_embeddings`` (n, d): what the model was trained on; ``batch_embeddings`` (m, d): the new batch.
    ``reference_proba`` (n', k) — outputs on held-out reference items, see the module docstring — and
    ``batch_proba`` (m, k) add the label-shift and confidence tests; give both or neither. Several tests at one
    level raise the false-alarm rate above any single test's: ``bench/drift.md`` measures the combined rate.
    """
    cfg = config or DriftConfig()
    if (reference_proba is None) != (batch_proba is None):
        raise ValueError("give both reference_proba and batch_proba, or neither")
    reasons: list[str] = []
    mmd = clf = None
    if cfg.embedding_test in ("mmd", "both"):
        mmd = mmd_test(reference_embeddings, batch_embeddings, max_samples=cfg.max_samples,
                       permutations=cfg.permutations, rng=rng)  # fmt: skip
        if mmd.p_value is not None and mmd.p_value < cfg.p_value:
            reasons.append(f"embedding MMD p={mmd.p_value:.4g} < {cfg.p_value}")
    if cfg.embedding_test in ("classifier", "both"):
        clf = classifier_auc_test(reference_embeddings, batch_embeddings, max_samples=cfg.max_samples, rng=rng)
        if clf.statistic > cfg.classifier_auc:
            reasons.append(f"domain classifier AUC {clf.statistic:.3f} > {cfg.classifier_auc}")
    shift = drop = None
    if reference_proba is not None and batch_proba is not None:
        shift = label_shift(reference_proba, batch_proba)
        if shift.psi > cfg.psi:
            reasons.append(f"predicted-label PSI {shift.psi:.3f} > {cfg.psi}")
        if shift.chi2_p_value < cfg.p_value:
            reasons.append(f"predicted-label chi-square p={shift.chi2_p_value:.4g} < {cfg.p_value}")
        drop = confidence_drop(reference_proba, batch_proba)
        if drop > cfg.confidence_drop:
            reasons.append(f"mean confidence dropped by {drop:.3f} > {cfg.confidence_drop}")
    report = DriftReport(
        alert=bool(reasons), reasons=reasons, mmd=mmd, classifier=clf, label_shift=shift, confidence_drop=drop,
        thresholds=cfg.model_dump(), n_reference=int(np.asarray(reference_embeddings).shape[0]),
        n_batch=int(np.asarray(batch_embeddings).shape[0]),
    )  # fmt: skip
    log.info("drift alert=%s reasons=%s", report.alert, reasons)
    return report
