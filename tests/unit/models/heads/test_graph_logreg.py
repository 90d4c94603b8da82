"""graph-logreg: logistic regression on pool-smoothed embeddings; it must actually use the pool it is given."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.models.heads import GraphLogRegHead, fit_head, make_head, uses_unlabeled


def _blobs(rng: np.random.Generator, n: int, k: int = 4, d: int = 16, noise: float = 2.5) -> tuple:
    centers = rng.normal(scale=1.0, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(scale=noise, size=(n, d))).astype(np.float32), y


def test_registered_and_declares_the_pool() -> None:
    assert isinstance(make_head("graph-logreg"), GraphLogRegHead)
    assert uses_unlabeled("graph-logreg") and not uses_unlabeled("logreg")


def test_the_pool_helps_with_few_labels() -> None:
    rng = np.random.default_rng(0)
    X, y = _blobs(rng, 3000, d=64)  # 3 labels per class: plain LR 0.80 here, the pool's clusters carry the rest
    X_test, y_test = X[2000:], y[2000:]
    lab = np.r_[[np.flatnonzero(y[:2000] == c)[:3] for c in range(4)]].ravel()  # 3 labels per class
    pool = np.setdiff1d(np.arange(2000), lab)
    plain = make_head("logreg").fit(X[lab], y[lab])
    graph = fit_head(make_head("graph-logreg"), X[lab], y[lab], X_unlabeled=X[pool])
    assert graph.smoother_.reference_.shape[0] == 2000  # labelled + pool rows
    acc_plain = np.mean(plain.predict(X_test) == y_test)
    acc_graph = np.mean(graph.predict(X_test) == y_test)
    assert acc_graph > acc_plain + 0.1, (acc_graph, acc_plain)
    # without a pool it still fits (graph of the labelled rows only)
    alone = make_head("graph-logreg", n_neighbors=3).fit(X[lab], y[lab])
    assert alone.smoother_.reference_.shape[0] == len(lab)
    # fit_head gives a plain head nothing extra
    assert fit_head(make_head("logreg"), X[lab], y[lab], X_unlabeled=X[pool]).predict(X_test).shape == (1000,)


def test_reference_cap_and_bad_pool() -> None:
    rng = np.random.default_rng(1)
    X, y = _blobs(rng, 400)
    head = make_head("graph-logreg", max_reference=100).fit(X[:50], y[:50], X_unlabeled=X[50:])
    assert head.smoother_.reference_.shape[0] == 100
    with pytest.raises(ValueError, match=r"X_unlabeled must be \(m, 16\)"):
        make_head("graph-logreg").fit(X[:50], y[:50], X_unlabeled=X[50:, :8])
    with pytest.raises(ValueError, match="max_reference"):
        make_head("graph-logreg", max_reference=1).fit(X[:50], y[:50])
