"""Core-set, k-means, BADGE, cluster-margin and TypiClust: exactness of the lazy loops and the picks' intent."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from labelloop.strategies import StrategyInputs, make_strategy
from labelloop.strategies._greedy import (
    _sample_d2,
    euclidean_oracle,
    greedy_k_center,
    kmeans_pp_seeding,
    outer_product_oracle,
)
from labelloop.strategies.cold_start import neg_mean_knn_distance
from labelloop.strategies.hybrid import condensed_euclidean, gradient_factors, round_robin_by_cluster
from labelloop.strategies.uncertainty import margin

NONE = np.array([], dtype=np.intp)


def blobs(n_per: int = 40, n_blobs: int = 5, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_blobs, d)) * 20
    label = np.repeat(np.arange(n_blobs), n_per)
    return (centers[label] + rng.standard_normal((label.size, d))).astype(np.float32), label


def eager_k_center(x: np.ndarray, first: int | None, init: np.ndarray | None, n: int) -> list[int]:
    x = x.astype(np.float64)
    min_d = np.full(len(x), np.inf) if init is None else init.astype(np.float64).copy()
    picks: list[int] = []
    for step in range(n):
        c = first if (step == 0 and first is not None) else int(np.argmax(min_d))
        picks.append(c)
        min_d = np.minimum(min_d, ((x - x[c]) ** 2).sum(axis=1))
        min_d[picks] = -np.inf
    return picks


@pytest.mark.parametrize("refresh_every", [1, 3, 64])
@pytest.mark.parametrize("with_init", [False, True])
def test_lazy_k_center_equals_eager(refresh_every: int, with_init: bool) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 6)).astype(np.float32)
    init = ((x - x[0]) ** 2).sum(axis=1).astype(np.float64) if with_init else None
    dist, _ = euclidean_oracle(x)
    picks = greedy_k_center(dist, 400, 40, np.random.default_rng(9), init_sq_dist=init, refresh_every=refresh_every)
    first = None if with_init else int(picks[0])
    assert picks.tolist() == eager_k_center(x, first, init, 40)


def test_coreset_treats_labeled_items_as_centres() -> None:
    x, label = blobs()
    lab = np.flatnonzero(label != 4)[:10]  # blobs 0-3 touched by labels, blob 4 not
    lab = np.concatenate([np.flatnonzero(label == b)[:2] for b in range(4)])
    unl = np.setdiff1d(np.arange(x.shape[0]), lab)
    picks = make_strategy("coreset").query(StrategyInputs(embeddings=x), unl, lab, 1, rng=np.random.default_rng(0))
    assert label[picks[0]] == 4


def test_kmeans_picks_one_per_blob_near_its_centre() -> None:
    x, label = blobs()
    picks = make_strategy("kmeans", init="kmeans++").query(StrategyInputs(embeddings=x), np.arange(200), NONE, 5,
                                          rng=np.random.default_rng(0))
    assert sorted(label[picks].tolist()) == [0, 1, 2, 3, 4]
    for p in picks:
        members = x[label == label[p]]
        dist_to_mean = np.linalg.norm(members - members.mean(axis=0), axis=1)
        assert np.linalg.norm(x[p] - members.mean(axis=0)) <= np.quantile(dist_to_mean, 0.25)


def test_outer_product_oracle_equals_explicit_gradient_distances() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=30)
    x = rng.standard_normal((30, 5))
    a = gradient_factors(p)
    g = np.einsum("ik,id->ikd", a, x).reshape(30, -1)
    dist, sq = outer_product_oracle(a, x)
    np.testing.assert_allclose(sq, (g**2).sum(axis=1), rtol=1e-5)
    expected = ((g[:, None, :] - g[None, [3, 7], :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(dist(None, np.array([3, 7])), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dist(np.array([1, 2]), np.array([3])), expected[[1, 2], :1], rtol=1e-4, atol=1e-4)


def test_badge_factored_and_explicit_gradients_pick_alike() -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3) * 0.5, size=150)
    x = rng.standard_normal((150, 6)).astype(np.float32)
    g = np.einsum("ik,id->ikd", gradient_factors(p), x).reshape(150, -1)
    inputs = StrategyInputs(proba=p, embeddings=x, grad_embeddings=g)
    unl = np.arange(150)
    a = make_strategy("badge", refresh_every=4).query(inputs, unl, NONE, 20, rng=np.random.default_rng(2))
    b = make_strategy("badge", use_grad_embeddings=True, refresh_every=4).query(
        inputs, unl, NONE, 20, rng=np.random.default_rng(2)
    )
    assert a[0] == int(np.argmax((g**2).sum(axis=1)))  # first pick: largest gradient norm
    assert len(set(a.tolist()) & set(b.tolist())) >= 18  # same algorithm; float paths differ slightly


def test_lazy_d2_sampling_has_the_exact_distribution() -> None:
    """With stale bounds (distances to centre 1 only) and centre 4 added since, the rejection sampler must draw
    rows with probability ∝ min(D²(·, 1), D²(·, 4)), not ∝ the stale bounds."""
    x = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 1.0], [3.0, 4.0], [0.0, 0.5], [7.0, 1.0]])
    dist, _ = euclidean_oracle(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    stale = d2[1].copy()
    stale[[1, 4]] = 0.0
    chosen = np.zeros(6, dtype=bool)
    chosen[[1, 4]] = True
    expected = np.minimum(d2[1], d2[4])
    expected[[1, 4]] = 0.0
    expected /= expected.sum()
    rng = np.random.default_rng(0)
    draws = [_sample_d2(stale.copy(), dist, [4], chosen, rng, 2, 3) for _ in range(20_000)]
    observed = np.bincount(draws, minlength=6) / len(draws)
    np.testing.assert_allclose(observed, expected, atol=0.01)
    assert np.abs(stale / stale.sum() - expected).max() > 0.3  # the stale envelope alone would be wrong


def test_kmeans_pp_seeding_never_repeats_and_handles_all_zero_distances() -> None:
    x = np.zeros((10, 3))
    dist, sq = euclidean_oracle(x)
    picks = kmeans_pp_seeding(dist, sq, 10, np.random.default_rng(0), refresh_every=3)
    assert sorted(picks.tolist()) == list(range(10))


def test_condensed_distances_equal_pdist() -> None:
    x = np.random.default_rng(0).standard_normal((70, 9))
    np.testing.assert_allclose(condensed_euclidean(x, block=16), pdist(x.astype(np.float32)), rtol=1e-4, atol=1e-4)


def test_round_robin_visits_small_clusters_first() -> None:
    clusters = np.array([1, 1, 1, 1, 2, 2, 3])
    order = round_robin_by_cluster(clusters, 7, np.random.default_rng(0))
    assert clusters[order].tolist() == [3, 2, 1, 2, 1, 1, 1]


def test_cluster_margin_picks_low_margin_items_across_clusters() -> None:
    x, label = blobs(n_per=60)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=300)
    inputs = StrategyInputs(proba=p, embeddings=x)
    picks = make_strategy("cluster-margin", margin_multiplier=5, n_clusters=5).query(
        inputs, np.arange(300), NONE, 10, rng=np.random.default_rng(0)
    )
    candidates = np.argsort(margin(p))[:50]
    assert set(picks.tolist()) <= set(candidates.tolist())
    per_blob = np.bincount(label[picks], minlength=5)
    assert per_blob.max() - per_blob[per_blob > 0].min() <= 1 or (per_blob > 0).sum() >= 4


def test_typicality_prefers_dense_points() -> None:
    x = np.vstack([np.random.default_rng(0).standard_normal((50, 2)) * 0.1, [[5.0, 5.0]]])
    t = neg_mean_knn_distance(x, 5)
    assert int(np.argmin(t)) == 50


def test_typiclust_cold_start_covers_blobs_with_typical_items() -> None:
    x, label = blobs(n_per=60)
    x = np.vstack([x, x[0] + 15.0])  # one outlier: a singleton cluster at most, never worth picking first
    s = make_strategy("typiclust", k_neighbors=10, init="kmeans++")
    picks = s.query(StrategyInputs(embeddings=x), np.arange(301), NONE, 5, rng=np.random.default_rng(0))
    assert sorted(label[picks[picks < 300]].tolist()) == [0, 1, 2, 3, 4]
    with_labels = s.query(StrategyInputs(embeddings=x), np.arange(60, 301), np.arange(60), 4,
                          rng=np.random.default_rng(0))
    # 64 clusters (60 labeled + 4): blob 0's clusters are all covered by labels, so no pick comes from it.
    assert 0 not in label[with_labels].tolist()
