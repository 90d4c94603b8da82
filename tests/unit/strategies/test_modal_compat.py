"""The modAL ↔ scikit-learn ≥ 1.8 bridge."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_X_y

from labelloop.strategies._modal_compat import modal_sklearn_compat, translate_force_all_finite

SKLEARN_18 = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 8)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    return x, (x[:, 0] > 0).astype(int)


def test_translate_maps_the_keyword() -> None:
    x, y = _data()
    wrapped = translate_force_all_finite(check_X_y)
    xv, _ = wrapped(x, y, force_all_finite=True)
    np.testing.assert_array_equal(xv, x)
    with pytest.raises(ValueError, match="NaN"):
        wrapped(np.where(x > 1.5, np.nan, x), y, force_all_finite=True)
    with pytest.raises(TypeError, match="not both"):
        wrapped(x, y, force_all_finite=True, ensure_all_finite=True)


def test_translate_leaves_old_signatures_alone() -> None:
    def old(x: object, force_all_finite: bool = True) -> bool:
        return force_all_finite

    assert translate_force_all_finite(old) is old


@pytest.mark.skipif(not SKLEARN_18, reason="the break is only on scikit-learn >= 1.8")
def test_modal_breaks_without_and_works_with_the_shim() -> None:
    from modAL.models import ActiveLearner, learners

    x, y = _data()
    learner = ActiveLearner(estimator=LogisticRegression(), X_training=x[:20], y_training=y[:20])
    with pytest.raises(TypeError, match="force_all_finite"):  # construction works; teach() breaks
        learner.teach(x[20:], y[20:])
    original = learners.check_X_y
    with modal_sklearn_compat():
        learner = ActiveLearner(estimator=LogisticRegression(), X_training=x[:20], y_training=y[:20])
        learner.teach(x[20:], y[20:])
        assert learner.score(x, y) > 0.8
    assert learners.check_X_y is original  # restored on exit
