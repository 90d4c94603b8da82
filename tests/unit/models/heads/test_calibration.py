from __future__ import annotations

import numpy as np
import pytest

from labelloop.models.heads import (
    CalibratedHead,
    IsotonicCalibrator,
    LogRegHead,
    TemperatureScaler,
    expected_calibration_error,
    labels_to_index,
)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); reported probabilities softmax(3 z): the same ranking, far too confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, 4))
    true = softmax(z)
    y = np.array([rng.choice(4, p=p) for p in true])
    return softmax(3.0 * z), y


def test_ece_values() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # bin 0.9: acc 1.0, conf 0.9; bin 0.6: acc 0.5, conf 0.6 -> 0.5 * 0.1 + 0.5 * 0.1
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1]), n_bins=10) == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"column indices in \[0, 2\)"):
        expected_calibration_error(probs, np.array([0, 0, 0, 2]))


@pytest.mark.parametrize("calibrator", [TemperatureScaler(), IsotonicCalibrator()])
def test_calibration_reduces_ece_on_held_out_data(calibrator) -> None:
    p_cal, y_cal = overconfident(3000, seed=0)
    p_test, y_test = overconfident(3000, seed=1)
    before = expected_calibration_error(p_test, y_test)
    after = expected_calibration_error(calibrator.fit(p_cal, y_cal).transform(p_test), y_test)
    assert before > 0.1
    assert after < before / 3
    if isinstance(calibrator, TemperatureScaler):
        assert calibrator.temperature_ == pytest.approx(3.0, rel=0.15)


def test_calibrated_head_wraps_a_fitted_head() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=600) > 0, "pos", "neg")
    head = LogRegHead(C=1e4).fit(X[:200], y[:200])
    calibrated = CalibratedHead(head, method="temperature").fit(X[200:400], y[200:400])
    probs = calibrated.predict_proba(X[400:])
    assert probs.shape == (200, 2)
    np.testing.assert_array_equal(calibrated.predict(X[400:]), head.predict(X[400:]))  # argmax kept
    with pytest.raises(ValueError, match="not among the head's classes"):
        labels_to_index(head.classes_, ["pos", "maybe"])
