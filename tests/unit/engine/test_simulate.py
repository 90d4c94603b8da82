"""Simulation loop on small synthetic data: shapes, determinism, margin vs random, curve summaries."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.engine.simulate import (
    SimulationConfigError,
    accuracy_at,
    area_under_curve,
    checkpoints,
    cold_start_indices,
    full_pool_accuracy,
    head_for,
    labels_to_target,
    labels_to_target_over_seeds,
    run_simulation_from_config,
    simulate,
    summarise,
)
from labelloop.strategies import make_strategy


def blobs(n: int, k: int, d: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) Gaussian blobs around ``k`` random centres, labels as strings (the simulation maps them)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3.0
    y = rng.integers(k, size=n)
    x = centres[y] + rng.normal(scale=spread, size=(n, d))
    return x.astype(np.float32), np.array([f"c{c}" for c in y])


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = blobs(900, 3, 8, 2.5, seed=0)
    return x[:600], y[:600], x[600:], y[600:]


def test_checkpoints_end_at_budget() -> None:
    assert checkpoints(20, 30, 100).tolist() == [20, 50, 80, 100]
    assert checkpoints(50, 50, 150).tolist() == [50, 100, 150]


def test_simulation_runs_with_right_lengths(data) -> None:
    xp, yp, xt, yt = data
    res = simulate(xp, yp, xt, yt, strategy="margin", seed_size=20, batch_size=30, budget=110, seeds=(0, 1))
    assert res.labels.tolist() == [20, 50, 80, 110]
    assert res.accuracy.shape == (2, 4)
    assert np.all((res.accuracy >= 0) & (res.accuracy <= 1))
    assert res.head == "logreg" and res.strategy["name"] == "margin"
    d = res.to_dict()
    assert len(d["mean"]) == 4 and len(d["accuracy"]) == 2


def test_same_seed_same_curve(data) -> None:
    xp, yp, xt, yt = data
    kw = {"strategy": "badge", "seed_size": 20, "batch_size": 20, "budget": 80, "seeds": (3,)}
    a = simulate(xp, yp, xt, yt, **kw)
    b = simulate(xp, yp, xt, yt, **kw)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    c = simulate(xp, yp, xt, yt, **{**kw, "seeds": (4,)})
    assert c.accuracy.shape == a.accuracy.shape


def test_cold_start_is_shared_and_seeded(data) -> None:
    xp = data[0]
    a = cold_start_indices(xp, 15, 0, "typiclust")
    assert a.shape == (15,) and np.unique(a).size == 15
    np.testing.assert_array_equal(a, cold_start_indices(xp, 15, 0, "typiclust"))
    r = cold_start_indices(xp, 15, 0, "random")
    np.testing.assert_array_equal(r, cold_start_indices(xp, 15, 0, "random"))
    assert not np.array_equal(r, cold_start_indices(xp, 15, 1, "random"))


def test_margin_at_least_as_good_as_random_on_blobs() -> None:
    # Overlapping blobs: the boundary is where the labels matter, which is what margin sampling finds.
    x, y = blobs(2400, 4, 10, 3.0, seed=1)
    xp, yp, xt, yt = x[:1600], y[:1600], x[1600:], y[1600:]
    kw = {"seed_size": 20, "batch_size": 20, "budget": 200, "seeds": (0, 1, 2), "cold_start": "random"}
    rnd = simulate(xp, yp, xt, yt, strategy="random", **kw)
    mar = simulate(xp, yp, xt, yt, strategy="margin", **kw)
    np.testing.assert_array_equal(rnd.accuracy[:, 0], mar.accuracy[:, 0])  # same seed sets
    up_to = 200
    assert area_under_curve(mar.labels, mar.mean, up_to) >= area_under_curve(rnd.labels, rnd.mean, up_to) - 0.005
    assert mar.mean[-1] >= rnd.mean[-1] - 0.005


def test_labels_to_target_on_hand_made_curve() -> None:
    labels = np.array([50, 100, 150, 200, 250])
    acc = np.array([0.50, 0.70, 0.79, 0.80, 0.78])
    assert labels_to_target(labels, acc, 0.80) == 200
    assert labels_to_target(labels, acc, 0.70) == 100  # >= counts
    assert labels_to_target(labels, acc, 0.40) == 50
    assert labels_to_target(labels, acc, 0.81) is None
    with pytest.raises(ValueError, match="same length"):
        labels_to_target(labels, acc[:3], 0.5)


def test_curve_summaries_on_hand_made_curve() -> None:
    labels = np.array([0, 100, 200])
    acc = np.array([0.0, 1.0, 1.0])
    assert accuracy_at(labels, acc, 50) == pytest.approx(0.5)
    assert accuracy_at(labels, acc, 100) == pytest.approx(1.0)
    assert accuracy_at(labels, acc, 300) is None
    assert area_under_curve(labels, acc) == pytest.approx(0.75)  # (50 + 100) / 200
    assert area_under_curve(labels, acc, 100) == pytest.approx(0.5)


def test_labels_to_target_over_seeds_needs_every_seed(data) -> None:
    xp, yp, xt, yt = data
    res = simulate(xp, yp, xt, yt, strategy="random", seed_size=20, batch_size=20, budget=60, seeds=(0, 1))
    res.accuracy[:] = [[0.1, 0.5, 0.9], [0.1, 0.9, 0.9]]
    out = labels_to_target_over_seeds(res, 0.8)
    assert out["per_seed"] == [60, 40] and out["mean"] == 50.0
    res.accuracy[0] = [0.1, 0.2, 0.3]
    assert labels_to_target_over_seeds(res, 0.8)["mean"] is None
    s = summarise(res, 0.8, report_at=(20, 30, 1000))
    assert s["accuracy_at"]["1000"] is None and s["accuracy_at"]["30"]["mean"] == pytest.approx(0.325)


def test_heads_follow_requirements(data) -> None:
    assert head_for(make_strategy("bald")) == "mlp"
    assert head_for(make_strategy("vote-entropy")) == "committee"
    assert head_for(make_strategy("margin")) == "logreg"
    with pytest.raises(SimulationConfigError, match="'head' parameter"):
        head_for(make_strategy("bald"), "logreg")
    xp, yp, xt, yt = data
    xp, yp = xp[:200], yp[:200]  # small pool: the MLP's passes run over the whole pool every round
    res = simulate(xp, yp, xt, yt, strategy="vote-entropy", head_params={"n_members": 3}, seed_size=20,
                   batch_size=20, budget=60, seeds=(0,))
    assert res.head == "committee" and res.accuracy.shape == (1, 3)
    res = simulate(xp, yp, xt, yt, strategy="bald", head_params={"epochs": 5, "hidden": 16}, seed_size=20,
                   batch_size=20, budget=60, seeds=(0,), mc_samples=4)
    assert res.head == "mlp" and res.accuracy.shape == (1, 3)


def test_class_balanced_wrapper_gets_labels(data) -> None:
    xp, yp, xt, yt = data
    res = simulate(xp, yp, xt, yt, strategy="class-balanced", params={"base": {"name": "margin"}}, seed_size=20,
                   batch_size=20, budget=60, seeds=(0,))
    assert res.accuracy.shape == (1, 3)


def test_bad_parameters_raise(data) -> None:
    xp, yp, xt, yt = data
    with pytest.raises(SimulationConfigError, match="'budget' parameter"):
        simulate(xp, yp, xt, yt, strategy="random", seed_size=50, budget=10)
    with pytest.raises(SimulationConfigError, match="'cold_start' parameter"):
        simulate(xp, yp, xt, yt, strategy="random", budget=100, cold_start="nope")  # type: ignore[arg-type]
    with pytest.raises(SimulationConfigError, match="one class only"):
        simulate(xp, np.array(["a"] * 599 + ["b"]), xt, yt, strategy="random", seed_size=5, budget=10,
                 cold_start="random")


def test_full_pool_accuracy_is_high_on_easy_blobs() -> None:
    x, y = blobs(600, 3, 8, 0.5, seed=2)
    assert full_pool_accuracy(x[:400], y[:400], x[400:], y[400:]) > 0.95


def test_run_simulation_from_config_with_stub_embeddings(tmp_path, monkeypatch) -> None:
    import pandas as pd

    import labelloop.engine.simulate as sim

    x, y = blobs(300, 3, 8, 1.5, seed=3)
    texts = [f"item {i}" for i in range(300)]
    lookup = dict(zip(texts, x, strict=True))
    monkeypatch.setattr(sim, "embed_texts", lambda t, **_: np.stack([lookup[s] for s in t]))
    csv = tmp_path / "d.csv"
    pd.DataFrame({"text": texts, "label": y}).to_csv(csv, index=False)
    out = run_simulation_from_config(csv, "text", "label", None, ["margin"], seed_size=15, batch_size=15,
                                     budget=45, seeds=2)
    assert set(out["labels_to_target"]) == {"random", "margin"}
    assert out["pool_size"] == 240 and out["test_size"] == 60
    assert len(out["curves"]["margin"]["mean"]) == 3
    import json

    json.dumps(out)  # JSON-friendly


def test_run_simulation_from_config_rejects_unknown_strategy_before_embedding(tmp_path, monkeypatch) -> None:
    import pandas as pd

    import labelloop.engine.simulate as sim
    from labelloop.strategies import UnknownStrategyError

    def no_embedding(*_a, **_k):
        raise AssertionError("embedded before validating the strategies")

    monkeypatch.setattr(sim, "embed_texts", no_embedding)
    csv = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]}).to_csv(csv, index=False)
    with pytest.raises(UnknownStrategyError, match=r"strategies\[0\].*'nope'"):
        run_simulation_from_config(csv, "text", "label", None, ["nope"])
