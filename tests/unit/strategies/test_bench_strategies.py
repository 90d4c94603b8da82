"""Helpers of scripts/bench_strategies.py: the validation split, graph-smoothing tuning and the head-vs-strategy
breakdown that keeps the reported ratio honest about where a saving comes from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sklearn.datasets import make_blobs


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "scripts" / "bench_strategies.py"
    spec = importlib.util.spec_from_file_location("bench_strategies_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_validation_split_is_a_stratified_partition_of_the_pool(bench: ModuleType) -> None:
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.array(["a"] * 70 + ["b"] * 30)
    x_fit, x_val, y_fit, y_val, desc = bench.validation_split(x, y)
    assert (len(y_fit), len(y_val)) == (80, 20)
    assert sorted(np.concatenate([x_fit[:, 0], x_val[:, 0]]).tolist()) == sorted(x[:, 0].tolist())
    assert (y_val == "b").sum() == 6
    assert "VALIDATION" in desc


def test_entry_key_separates_features_but_not_plain(bench: ModuleType) -> None:
    plain = {"head": "logreg", "head_params": {"C": 1.0}}
    assert bench.entry_key(plain) == bench.entry_key({**plain, "features": "plain"})
    assert bench.entry_key(plain) != bench.entry_key({**plain, "features": "graph"})


def test_gain_breakdown_names_the_same_head_random(bench: ModuleType) -> None:
    def row(head: str, params: dict, features: str, own: float | None) -> dict:
        return {
            "head": head,
            "head_params": params,
            "features": features,
            "full_accuracy_own_head": 0.9,
            "labels_to_own_head_target": {"mean": own},
        }

    summary = {
        "random": row("logreg", {"C": 1.0}, "plain", 300),
        "random (graph)": row("logreg", {"C": 2.0}, "graph", 100),
        "margin (graph)": row("logreg", {"C": 2.0}, "graph", 50),
        "margin": row("logreg", {"C": 1.0}, "plain", 200),
    }
    ltt = {"random": 300.0, "random (graph)": 100.0, "margin (graph)": 50.0, "margin": 200.0}
    assert bench.same_head_random(summary, "margin (graph)") == "random (graph)"
    assert bench.same_head_random(summary, "margin") == "random"
    (line,) = bench.gain_breakdown(summary, ltt, "margin (graph)")
    assert "random (graph) needs 100 (0.33× of plain random" in line
    assert "margin (graph) needs 50 (0.50× of random (graph)" in line
    assert bench.gain_breakdown(summary, ltt, "margin") == []


def test_tune_smoothing_picks_from_the_grid_and_scores_plain(bench: ModuleType) -> None:
    x, y = make_blobs(n_samples=400, centers=3, n_features=8, cluster_std=4.0, random_state=0)
    out = bench.tune_smoothing(x.astype(np.float32), y.astype(str), 1.0, sizes=(20, 40), draws=1)
    for key, values in bench.SMOOTH_GRID.items():
        assert out["params"][key] in values
    assert out["C"] in bench.C_GRID
    assert "none" in out["grid_at_plain_C"]
    assert len(out["grid_at_plain_C"]) == 1 + int(np.prod([len(v) for v in bench.SMOOTH_GRID.values()]))
    best = max(v for k, v in out["grid_at_plain_C"].items() if k != "none")
    assert out["validation_accuracy"] >= best  # C tuned on top of the best combination (its C is in the grid)


def test_validation_choice_fewest_labels_then_aulc(bench: ModuleType) -> None:
    def row(labels: float | None, aulc: float) -> dict:
        return {"labels_to_target": {"mean": labels}, "aulc": {"mean": aulc}}

    val = {
        "summary": {
            "a": {"random": row(50, 0.99), "x": row(50, 0.80), "y": row(50, 0.85), "z": row(None, 0.95)},
            "b": {"random": row(100, 0.9), "z": row(None, 0.95)},
        }
    }
    assert bench.validation_choice(val) == {"a": "y"}
