"""KNNGraphSmoother: propagation over the pool's kNN graph, identical rows skipped, new rows only read the pool."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from labelloop.models.heads.graph_smoothing import KNNGraphSmoother


def manual(ref: np.ndarray, x: np.ndarray, k: int, alpha: float, hops: int) -> np.ndarray:
    """Brute-force reference implementation (distinct rows only, so no identical-row handling is needed)."""

    def nbrs(q: np.ndarray) -> np.ndarray:
        d = ((q[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
        d[d <= 1e-10] = np.inf
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    n_ref, n_x = nbrs(ref), nbrs(x)
    hs = [ref]
    for _ in range(hops - 1):
        hs.append((1 - alpha) * hs[-1] + alpha * hs[-1][n_ref].mean(axis=1))
    h = x
    for t in range(hops):
        h = (1 - alpha) * h + alpha * hs[t][n_x].mean(axis=1)
    return h


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_matches_brute_force_on_pool_and_new_rows(hops: int) -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((60, 5)).astype(np.float32)
    new = rng.standard_normal((7, 5)).astype(np.float32)
    sm = KNNGraphSmoother(n_neighbors=4, alpha=0.6, n_hops=hops, normalize=False).fit(ref)
    np.testing.assert_allclose(sm.transform(ref), manual(ref, ref, 4, 0.6, hops), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sm.transform(new), manual(ref, new, 4, 0.6, hops), rtol=1e-4, atol=1e-5)


def test_alpha_zero_is_identity_and_concat_keeps_input() -> None:
    x = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    np.testing.assert_allclose(KNNGraphSmoother(alpha=0.0, normalize=False).fit(x).transform(x), x)
    out = KNNGraphSmoother(n_neighbors=3, mode="concat").fit(x).transform(x)
    assert out.shape == (30, 8)
    np.testing.assert_allclose(out[:, :4], x)
    np.testing.assert_allclose(np.linalg.norm(out[:, 4:], axis=1), 1.0, rtol=1e-5)


def test_identical_rows_are_not_neighbours() -> None:
    # Row 0 and its copy (row 3) must not average with each other: row 0's only neighbour is then row 1.
    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.0, 0.0]], dtype=np.float32)
    sm = KNNGraphSmoother(n_neighbors=1, alpha=1.0, normalize=False).fit(x)
    out = sm.transform(x)
    np.testing.assert_allclose(out[0], [1.0, 0.0])
    np.testing.assert_allclose(out[3], [1.0, 0.0])
    # A new row equal to a pool row is treated like that pool row.
    np.testing.assert_allclose(sm.transform(x[:1]), out[:1])


def test_new_rows_do_not_change_pool_features() -> None:
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((40, 3)).astype(np.float32)
    sm = KNNGraphSmoother(n_neighbors=5, n_hops=2).fit(ref)
    before = sm.transform(ref)
    sm.transform(rng.standard_normal((100, 3)).astype(np.float32))
    np.testing.assert_array_equal(sm.transform(ref), before)


def test_smoothing_helps_a_linear_head_with_few_labels() -> None:
    """Noisy blobs: 8 labels; the pool's graph pulls each blob together, so the head generalises better."""
    x, y = make_blobs(n_samples=1200, centers=4, n_features=20, cluster_std=6.0, random_state=0)
    x = x.astype(np.float32)
    pool, test = np.arange(1000), np.arange(1000, 1200)
    labeled = np.concatenate([np.flatnonzero(y[pool] == c)[:2] for c in range(4)])
    sm = KNNGraphSmoother(n_neighbors=15, alpha=0.8, n_hops=2, normalize=False).fit(x[pool])
    plain = LogisticRegression(max_iter=1000).fit(x[labeled], y[labeled]).score(x[test], y[test])
    smoothed = LogisticRegression(max_iter=1000).fit(sm.transform(x[labeled]), y[labeled])
    assert smoothed.score(sm.transform(x[test]), y[test]) > plain + 0.05


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_neighbors": 0}, "'n_neighbors' parameter .* int >= 1. Got 0"),
        ({"n_hops": 1.5}, "'n_hops' parameter .* int >= 1. Got 1.5"),
        ({"alpha": 1.5}, r"'alpha' parameter .* \[0, 1\]. Got 1.5"),
        ({"mode": "mean"}, r"'mode' parameter .* \['replace', 'concat'\]. Got 'mean'"),
    ],
)
def test_bad_parameters_name_the_parameter(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KNNGraphSmoother(**params).fit(np.zeros((5, 2), dtype=np.float32))


def test_pool_of_one_row_is_refused_and_width_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 2 rows, got 1"):
        KNNGraphSmoother().fit(np.zeros((1, 3)))
    sm = KNNGraphSmoother(n_neighbors=2).fit(np.random.default_rng(0).standard_normal((10, 3)))
    with pytest.raises(ValueError, match="3 features"):
        sm.transform(np.zeros((2, 4)))


@parametrize_with_checks([KNNGraphSmoother(n_neighbors=3)])
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)
