"""Fixtures for the strategy tests: small synthetic pools with every input a strategy may require."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from labelloop.strategies import StrategyInputs


def _simplex(rng: np.random.Generator, shape: tuple[int, ...], sharpness: float = 1.0) -> np.ndarray:
    logits = rng.standard_normal(shape) * sharpness
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def build_inputs(
    n: int = 80, k: int = 3, d: int = 6, t: int = 5, m: int = 4, seed: int = 0, identical: bool = False
) -> StrategyInputs:
    """Every input in the vocabulary for ``n`` items. ``identical``: every item has the same outputs (all ties)."""
    rng = np.random.default_rng(seed)
    rows = 1 if identical else n
    proba = _simplex(rng, (rows, k), 2.0)
    samples = np.moveaxis(_simplex(rng, (rows, t, k), 2.0), 1, 2)
    committee = _simplex(rng, (m, rows, k), 2.0)
    centers = rng.standard_normal((4, d)) * 4
    emb = (centers[rng.integers(4, size=rows)] + rng.standard_normal((rows, d))).astype(np.float32)
    grad = rng.standard_normal((rows, d * k))
    if identical:
        proba, samples, emb, grad = (np.repeat(a, n, axis=0) for a in (proba, samples, emb, grad))
        committee = np.repeat(committee, n, axis=1)
    return StrategyInputs(
        proba=proba, proba_samples=samples, committee_proba=committee, embeddings=emb,
        grad_embeddings=grad, labels=rng.integers(0, k, size=n),
    )


@pytest.fixture
def make_inputs() -> Callable[..., StrategyInputs]:
    return build_inputs
