"""Drift tests on synthetic data whose answer is known: same distribution vs shifted."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.engine.config import DriftConfig
from labelloop.engine.metrics.drift import (
    classifier_auc_test,
    confidence_drop,
    detect_drift,
    label_shift,
    mmd_test,
)


def _gauss(rng: np.random.Generator, n: int, d: int = 8, shift: float = 0.0) -> np.ndarray:
    x = rng.standard_normal((n, d))
    x[:, 0] += shift
    return x


def test_mmd_statistic_equals_the_direct_formula() -> None:
    rng = np.random.default_rng(0)
    x, y = _gauss(rng, 30, 4), _gauss(rng, 20, 4, shift=1.0)
    res = mmd_test(x, y, max_samples=100, permutations=50, rng=np.random.default_rng(1))
    z = np.vstack([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    med = np.median(d2[np.triu_indices(50, k=1)])
    k = np.exp(-d2 / med)
    direct = k[:30, :30].mean() + k[30:, 30:].mean() - 2 * k[:30, 30:].mean()
    assert res.statistic == pytest.approx(direct, rel=1e-9)
    assert res.detail["bandwidth"] == pytest.approx(np.sqrt(med / 2))
    assert (res.n_reference, res.n_batch) == (30, 20)


def test_mmd_detects_a_shift_and_is_calibrated_without_one() -> None:
    rng = np.random.default_rng(3)
    shifted = mmd_test(_gauss(rng, 200), _gauss(rng, 100, shift=0.8), permutations=200, rng=rng)
    assert shifted.p_value is not None and shifted.p_value < 0.01
    null_p = [mmd_test(_gauss(rng, 150), _gauss(rng, 80), permutations=100, rng=rng).p_value for _ in range(40)]
    rejections = sum(p is not None and p < 0.1 for p in null_p)
    assert rejections <= 10  # expected 4 of 40 at level 0.1; p-values are not all tiny
    assert min(null_p) >= 1 / 101  # the permutation p-value never reaches 0


def test_mmd_bounds_sample_sizes() -> None:
    rng = np.random.default_rng(0)
    res = mmd_test(_gauss(rng, 1000), _gauss(rng, 700), max_samples=64, permutations=20, rng=rng)
    assert (res.n_reference, res.n_batch) == (64, 64)


def test_classifier_auc() -> None:
    rng = np.random.default_rng(5)
    same = classifier_auc_test(_gauss(rng, 200), _gauss(rng, 200), rng=rng)
    far = classifier_auc_test(_gauss(rng, 200), _gauss(rng, 200, shift=3.0), rng=rng)
    assert 0.35 < same.statistic < 0.65
    assert far.statistic > 0.95


def test_label_shift_psi_and_chi_square() -> None:
    from scipy.stats import chi2_contingency

    eye = np.eye(3)
    ref = eye[[0] * 50 + [1] * 30 + [2] * 20]
    batch = eye[[0] * 20 + [1] * 30 + [2] * 50]
    res = label_shift(ref, batch)
    r, b = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    assert res.psi == pytest.approx(float(np.sum((b - r) * np.log(b / r))))
    chi2, p, _, _ = chi2_contingency(np.array([[50, 30, 20], [20, 30, 50]]))
    assert (res.chi2, res.chi2_p_value) == (pytest.approx(chi2), pytest.approx(p))
    same = label_shift(ref, ref)
    assert same.psi == pytest.approx(0.0) and same.chi2_p_value == pytest.approx(1.0)
    absent = label_shift(eye[[0, 1] * 10], eye[[0, 2] * 10])  # a class only one side predicts: finite PSI
    assert np.isfinite(absent.psi) and absent.psi > 1.0


def test_confidence_drop() -> None:
    sure = np.array([[0.9, 0.1], [0.8, 0.2]])
    unsure = np.array([[0.6, 0.4], [0.5, 0.5]])
    assert confidence_drop(sure, unsure) == pytest.approx(0.85 - 0.55)
    assert confidence_drop(unsure, sure) == pytest.approx(-0.3)


def test_detect_drift_alerts_with_reasons() -> None:
    rng = np.random.default_rng(7)
    ref_emb, ref_p = _gauss(rng, 300), np.tile([0.9, 0.1], (300, 1))
    ref_p[::2] = [0.15, 0.85]
    cfg = DriftConfig(embedding_test="both", permutations=100)
    quiet = detect_drift(ref_emb, _gauss(rng, 150), reference_proba=ref_p, batch_proba=ref_p[:150], config=cfg,
                         rng=rng)  # fmt: skip
    assert not quiet.alert and quiet.reasons == []
    assert quiet.mmd is not None and quiet.classifier is not None and quiet.confidence_drop == pytest.approx(0.0)
    drifted_p = np.tile([0.55, 0.45], (150, 1))
    loud = detect_drift(ref_emb, _gauss(rng, 150, shift=2.0), reference_proba=ref_p, batch_proba=drifted_p,
                        config=cfg, rng=rng)  # fmt: skip
    assert loud.alert
    text = " ".join(loud.reasons)
    for word in ("MMD", "AUC", "PSI", "chi-square", "confidence"):
        assert word in text
    d = loud.as_dict()
    assert d["thresholds"]["psi"] == 0.2 and d["alert"] is True and d["label_shift"]["batch_share"] == [1.0, 0.0]
    only_emb = detect_drift(ref_emb, _gauss(rng, 150), config=DriftConfig(permutations=50), rng=rng)
    assert only_emb.label_shift is None and only_emb.classifier is None


def test_bad_input_is_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="reference has 8 dimensions, batch 4"):
        mmd_test(_gauss(rng, 10), _gauss(rng, 10, 4), rng=rng)
    bad = _gauss(rng, 10)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="batch embeddings has 1 non-finite values"):
        mmd_test(_gauss(rng, 10), bad, rng=rng)
    with pytest.raises(ValueError, match="both reference_proba and batch_proba"):
        detect_drift(_gauss(rng, 10), _gauss(rng, 10), reference_proba=np.eye(2)[[0] * 10], rng=rng)
    with pytest.raises(ValueError, match="batch_proba rows must be probability distributions"):
        label_shift(np.eye(2), np.array([[0.5, 0.7]]))
    with pytest.raises(ValueError, match=r"must have shape \(n, d\)"):
        mmd_test(np.zeros(5), np.zeros((5, 1)), rng=rng)
