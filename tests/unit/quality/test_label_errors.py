"""Label-error detection on a synthetic separable dataset with known flipped labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from labelloop.engine.quality.label_errors import find_suspects, out_of_fold_probs


def _blobs(seed: int, n_per: int = 150, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = 6.0 * np.eye(k, 5)  # pairwise distance 8.5 against unit noise: separable
    y = np.repeat(np.arange(k), n_per)
    return centers[y] + rng.normal(size=(len(y), 5)), y


def _flip(y: np.ndarray, rate: float, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), size=int(rate * len(y)), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, idx.size)) % k  # always a different class
    return noisy, np.sort(idx)


@pytest.mark.parametrize("seed", [0, 1])
def test_find_suspects_finds_flipped_labels(seed: int) -> None:
    X, y = _blobs(seed)
    noisy, flipped = _flip(y, 0.05, 4, seed)
    probs = out_of_fold_probs(X, noisy, make_head=lambda: LogisticRegression(C=10.0, max_iter=1000), seed=seed)
    suspects = find_suspects(noisy, probs)
    flagged = {s.index for s in suspects}
    hits = flagged & set(flipped.tolist())
    assert len(hits) / len(flipped) >= 0.8  # recall (cleanlab keeps a few it counts as noise-rate margin)
    assert len(hits) / len(flagged) >= 0.9  # precision
    for s in suspects:
        if s.index in hits:
            assert s.given == noisy[s.index] and s.suggested == y[s.index]
    confidences = [s.self_confidence for s in suspects]
    assert confidences == sorted(confidences)
    assert all(s.suggested_prob >= s.self_confidence for s in suspects)


def test_clean_labels_give_few_suspects() -> None:
    X, y = _blobs(5)
    probs = out_of_fold_probs(X, y, make_head=GaussianNB)
    assert len(find_suspects(y, probs)) <= 3


def test_out_of_fold_probs_never_see_the_item() -> None:
    # a 1-nearest-neighbour-like head would return the item's own label in-sample; out of fold it cannot
    X, y = _blobs(2)
    noisy, flipped = _flip(y, 0.05, 4, 2)
    probs = out_of_fold_probs(X, noisy, make_head=GaussianNB, n_splits=3, seed=2)
    assert probs.shape == (len(y), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.mean(probs[flipped, noisy[flipped]] < 0.5) > 0.9
    in_sample = GaussianNB().fit(X, noisy).predict_proba(X)
    assert not np.allclose(in_sample, probs)


def test_out_of_fold_probs_fills_unseen_classes_with_zero() -> None:
    X, y = _blobs(3, n_per=20, k=3)
    probs = out_of_fold_probs(X, y, make_head=GaussianNB, n_classes=4, n_splits=2)
    assert probs.shape == (60, 4) and (probs[:, 3] == 0).all()


def test_bad_inputs_are_named() -> None:
    X, y = _blobs(4, n_per=10, k=2)
    with pytest.raises(ValueError, match="classes \\[1\\] have fewer than n_splits=5"):
        out_of_fold_probs(X, np.r_[np.zeros(17, int), np.ones(3, int)], make_head=GaussianNB)
    with pytest.raises(ValueError, match="label of item 3 is -1"):
        find_suspects(np.array([0, 1, 0, -1]), np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=r"label of item 1 is 2, outside 0\.\.1"):
        find_suspects(np.array([0, 2]), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="X has 20 rows but y has 3"):
        out_of_fold_probs(X, y[:3], make_head=GaussianNB)
