"""Auto-labeling under a precision target, with a statistical guarantee instead of a hand-picked cut-off.

A model's label is accepted for an item when its confidence reaches a threshold chosen on a *calibration set*:
human-labelled items the model was not trained on, drawn like the pool. Two guarantees, both Learn-then-Test
(Angelopoulos et al. 2021) with an exact test per candidate threshold ``t``:

- **pool** (when the pool's confidences are given, as auto-labeling always does): with probability at least
  ``1 - alpha``, the precision *of the pool items actually auto-labelled* is at least ``target``. Calibration and
  pool items above ``t`` are exchangeable, so given how many errors the two hold together, the calibration's share
  of them is hypergeometric; "the pool's precision is below target" is rejected when so few calibration errors
  would be unlikely (p ≤ level). This is what a user measures afterwards, and it is stricter than the population
  statement: a population precision of exactly the target still leaves half of all finite pools below it.
- **population** (calibration only): precision(t) = P(model right | confidence ≥ t) ≥ target, rejected by the
  one-sided Clopper-Pearson lower bound (an exact binomial test).

Thresholds are tested in a fixed order, from high to low, stopping at the first one not rejected (fixed-sequence
testing: no multiplicity correction along a sequence). Where a sequence starts matters: above the top few items no
test can pass (``n`` all-correct items give a bound of ``alpha ** (1 / n)``), and one early failure, say a mislabelled
item among the most confident ones, ends the sequence. So several sequences run, starting at 2×, 4× and 8× the
smallest support that can pass at all, each at ``alpha / 3`` (Bonferroni across sequences), and the lowest threshold
any of them reaches is kept. Starts depend on the confidences only, never on correctness, so the order is fixed before
looking at the labels. (Chosen on AG News / TREC calibration splits of seeds 10–19; ``scripts/bench_quality.py``
reports seeds 0–9.)

Per-class thresholds (:func:`choose_thresholds_per_class`) test each predicted class on its own, by default at
``alpha / k`` each (Bonferroni), so that "every auto-labelled class meets the target" holds at ``1 - alpha``; then
the precision over all auto-labels meets it too. A class without enough calibration support is not auto-labelled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import beta, hypergeom

log = logging.getLogger(__name__)

DEFAULT_GRID = np.round(np.linspace(1.0, 0.0, 1001), 3)  # step 0.001, high to low
DEFAULT_START_MULTIPLES = (2, 4, 8)


def clopper_pearson_lower(k: int, n: int, *, alpha: float = 0.05) -> float:
    """One-sided ``1 - alpha`` exact (Clopper-Pearson) lower confidence bound of a binomial proportion ``k / n``."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def pool_precision_pvalue(calibration_errors: Any, n_calibration: Any, n_pool: Any, *, target: float) -> np.ndarray:
    """Exact p-value of "fewer than ``target`` of the ``n_pool`` pool items are right", from ``calibration_errors``
    among ``n_calibration`` exchangeable calibration items (vectorised). The pool is below target when it holds at
    least ``e = floor((1 - target) · n_pool) + 1`` errors; the p-value is the hypergeometric chance of seeing so few
    calibration errors if the two sets shared ``calibration_errors + e`` errors (more errors only make it smaller)."""
    ec, n, m = (np.asarray(a, dtype=np.int64) for a in (calibration_errors, n_calibration, n_pool))
    e_min = np.floor((1 - target) * m + 1e-9).astype(np.int64) + 1
    return np.asarray(hypergeom.cdf(ec, n + m, ec + e_min, n), dtype=float)


def pool_precision_lower(calibration_errors: int, n_calibration: int, n_pool: int, *, alpha: float) -> float:
    """``1 - alpha`` lower confidence bound of the pool items' precision: the worst pool error count that
    :func:`pool_precision_pvalue`'s test does not reject."""
    if n_pool <= 0:
        return 1.0
    e_pool = np.arange(n_pool + 1)
    p = hypergeom.cdf(calibration_errors, n_calibration + n_pool, calibration_errors + e_pool, n_calibration)
    worst = int(np.nonzero(p > alpha)[0].max(initial=0))
    return (n_pool - worst) / n_pool


def min_passing_support(target: float, alpha: float) -> int:
    """Smallest ``n`` for which ``n`` correct out of ``n`` reach a lower bound ≥ ``target``: below it nothing passes."""
    return math.ceil(math.log(alpha) / math.log(target))


def sequence_starts(
    target: float, alpha: float, *, min_support: int = 30, multiples: Sequence[float] = DEFAULT_START_MULTIPLES
) -> list[int]:
    """Calibration supports where the fixed sequences start (each tested at ``alpha / len(starts)``)."""
    if not multiples or min(multiples) <= 0:
        raise ValueError(f"start multiples must be positive, got {list(multiples)}")
    base = min_passing_support(target, alpha / len(multiples))
    return sorted({max(min_support, math.ceil(mult * base)) for mult in multiples})


@dataclass(frozen=True)
class Threshold:
    """The chosen threshold (``None``: nothing may be auto-labelled) and the calibration evidence for it:
    ``precision`` / ``lower_bound`` among the ``n_calibration_above`` calibration items at or above it (for ``None``:
    at the first tested threshold of the first sequence, i.e. why it failed). ``guarantee``: ``pool`` (the bound is
    on the ``n_pool_above`` pool items' precision) or ``population``. ``per_class``: the predicted class it applies
    to; ``start``: the calibration support where the winning sequence started."""

    threshold: float | None
    n_calibration_above: int
    precision: float | None
    lower_bound: float | None
    target: float
    alpha: float
    per_class: str | None = None
    tested: int = 0
    note: str = ""
    guarantee: Literal["pool", "population"] = "population"
    n_pool_above: int | None = None
    start: int | None = None


def _check_target(target: float, alpha: float, min_support: int) -> None:
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if min_support < 1:
        raise ValueError(f"min_support must be >= 1, got {min_support}")


def _confidences(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    conf = np.asarray(values, dtype=float)
    if conf.ndim != 1:
        raise ValueError(f"{what} confidences must be 1-D, got shape {conf.shape}")
    bad = ~np.isfinite(conf) | (conf < 0) | (conf > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"confidence of {what} item {i} is {conf[i]}, not in [0, 1]")
    return conf


def choose_threshold(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    *,
    target: float = 0.95,
    alpha: float = 0.05,
    min_support: int = 30,
    pool_confidence: Sequence[float] | np.ndarray | None = None,
    start_multiples: Sequence[float] = DEFAULT_START_MULTIPLES,
    grid: np.ndarray | None = None,
    per_class: str | None = None,
) -> Threshold:
    """The lowest threshold whose precision guarantee holds (see the module docstring); ``threshold=None`` when
    every sequence fails at its first test or the calibration set is too small.

    ``confidence``: the model's confidence in its predicted label for each calibration item; ``correct``: whether
    that label equals the human one; ``pool_confidence``: the confidences of the items that may be auto-labelled
    (gives the pool guarantee; without it, the population one). ``start_multiples``: where the sequences start, in
    multiples of the smallest passing support. ``grid``: candidate thresholds (default 0.001 steps).
    """
    _check_target(target, alpha, min_support)
    conf = _confidences(confidence, "calibration")
    ok = np.asarray(correct)
    if ok.shape != conf.shape:
        raise ValueError(f"confidence and correct must be 1-D of the same length, got {conf.shape} and {ok.shape}")
    if ok.dtype != bool:
        if not np.isin(ok, (0, 1)).all():
            raise ValueError(f"correct must be booleans (or 0/1), got {ok[~np.isin(ok, (0, 1))][:3]}")
        ok = ok.astype(bool)
    pool = None if pool_confidence is None else _confidences(pool_confidence, "pool")
    starts = sequence_starts(target, alpha, min_support=min_support, multiples=start_multiples)
    level = alpha / len(starts)
    candidates = np.sort(np.unique(np.asarray(DEFAULT_GRID if grid is None else grid, dtype=float)))[::-1]
    common: dict[str, Any] = {
        "target": target,
        "alpha": alpha,
        "per_class": per_class,
        "guarantee": "population" if pool is None else "pool",
    }
    # n_t and k_t for every candidate: calibration items with confidence >= t (m_t: pool items)
    order = np.argsort(-conf, kind="stable")
    sorted_conf, sorted_ok = conf[order], np.cumsum(ok[order])
    n_t = np.searchsorted(-sorted_conf, -candidates, side="right")
    m_t = None if pool is None else np.searchsorted(-np.sort(pool)[::-1], -candidates, side="right")
    if n_t.max(initial=0) < starts[0]:
        note = f"{len(conf)} calibration items, {int(n_t.max(initial=0))} at most above a threshold; need {starts[0]}"
        return Threshold(None, int(n_t.max(initial=0)), None, None, note=note, **common)
    tested = n_t >= starts[0]
    k_t = np.zeros_like(n_t)
    k_t[tested] = sorted_ok[n_t[tested] - 1]
    if m_t is None:
        lower = np.where(k_t > 0, beta.ppf(level, np.maximum(k_t, 1), n_t - k_t + 1), 0.0)
        passes = tested & (lower >= target)
    else:
        passes = tested & (pool_precision_pvalue(n_t - k_t, n_t, m_t, target=target) <= level)
    best: tuple[int, int, int] | None = None  # (candidate index, start, tests run)
    first_fail: int | None = None
    for start in starts:
        seq = np.nonzero(n_t >= start)[0]
        if seq.size == 0:
            continue
        fails = np.nonzero(~passes[seq])[0]
        n_pass = int(fails[0]) if fails.size else len(seq)
        if n_pass == 0:
            first_fail = int(seq[0]) if first_fail is None else first_fail
        elif best is None or seq[n_pass - 1] > best[0]:
            best = (int(seq[n_pass - 1]), start, min(n_pass + 1, len(seq)))
    if best is None:
        i = first_fail if first_fail is not None else int(np.nonzero(tested)[0][0])
        n0, k0 = int(n_t[i]), int(k_t[i])
        bound, m0 = _lower_bound(n0 - k0, n0, None if m_t is None else int(m_t[i]), level)
        note = (
            f"every sequence fails at its first test; first start {candidates[i]:.3f}: {k0}/{n0} calibration items "
            f"right, {'pool' if m_t is not None else 'population'} precision bound {bound:.4f} < {target}"
        )
        return Threshold(None, n0, k0 / n0, bound, tested=len(starts), note=note, n_pool_above=m0, **common)
    i, start, n_tests = best
    n, k = int(n_t[i]), int(k_t[i])
    bound, m = _lower_bound(n - k, n, None if m_t is None else int(m_t[i]), level)
    return Threshold(float(candidates[i]), n, k / n, bound, tested=n_tests, n_pool_above=m, start=start, **common)


def _lower_bound(errors: int, n: int, m: int | None, level: float) -> tuple[float, int | None]:
    if m is None:
        return clopper_pearson_lower(n - errors, n, alpha=level), None
    return pool_precision_lower(errors, n, m, alpha=level), m


def choose_thresholds_per_class(
    probs: np.ndarray,
    y_true: np.ndarray,
    *,
    target: float = 0.95,
    alpha: float = 0.05,
    min_support: int = 30,
    bonferroni: bool = True,
    class_names: Sequence[str] | None = None,
    pool_probs: np.ndarray | None = None,
    **options: Any,
) -> dict[int, Threshold]:
    """One threshold per predicted class (:func:`choose_threshold` on the calibration items predicted as that class,
    at ``alpha / k`` when ``bonferroni``). ``probs``: (n, k) calibration probabilities; ``y_true``: their human
    labels (class indices); ``pool_probs``: (m, k) probabilities of the items to auto-label (pool guarantee, per
    predicted class)."""
    p = np.asarray(probs, dtype=float)
    y = np.asarray(y_true)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"probs must be (n, k) and y_true (n,), got {p.shape} and {y.shape}")
    k = p.shape[1]
    if ((y < 0) | (y >= k)).any():
        i = int(np.argmax((y < 0) | (y >= k)))
        raise ValueError(f"y_true of calibration item {i} is {y[i]}, not a class index in 0..{k - 1}")
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for {k} classes")
    pool = None if pool_probs is None else np.asarray(pool_probs, dtype=float)
    if pool is not None and (pool.ndim != 2 or pool.shape[1] != k):
        raise ValueError(f"pool_probs must be (m, {k}), got shape {pool.shape}")
    pred = p.argmax(axis=1)
    conf = p.max(axis=1)
    level = alpha / k if bonferroni else alpha
    out = {}
    for c in range(k):
        mask = pred == c
        name = str(c) if class_names is None else str(class_names[c])
        pool_c = None if pool is None else pool.max(axis=1)[pool.argmax(axis=1) == c]
        out[c] = choose_threshold(
            conf[mask],
            y[mask] == c,
            target=target,
            alpha=level,
            min_support=min_support,
            per_class=name,
            pool_confidence=pool_c,
            **options,
        )
    log.info("auto-label thresholds: %s", {t.per_class: t.threshold for t in out.values()})
    return out


def apply_thresholds(probs: np.ndarray, thresholds: Threshold | Mapping[int, Threshold]) -> np.ndarray:
    """Boolean mask of the items to auto-label (with their arg-max class): confidence ≥ the threshold of their
    predicted class (or the one global threshold). A class without a threshold is never auto-labelled."""
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probs must be (n, k), got shape {p.shape}")
    conf = p.max(axis=1)
    if isinstance(thresholds, Threshold):
        return np.zeros(len(p), bool) if thresholds.threshold is None else conf >= thresholds.threshold
    unknown = set(thresholds) - set(range(p.shape[1]))
    if unknown:
        raise ValueError(f"thresholds for classes {sorted(unknown)}, but probs has {p.shape[1]} classes")
    cut = np.full(p.shape[1], np.inf)
    for c, t in thresholds.items():
        if t.threshold is not None:
            cut[c] = t.threshold
    return conf >= cut[p.argmax(axis=1)]


def audit_sample(
    indices: Sequence[int] | np.ndarray, *, rate: float, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """A uniform random sample (without replacement, sorted) of ``ceil(rate × n)`` auto-labelled items for humans
    to check, so the guarantee is watched on the pool itself, not only trusted from calibration."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
    size = math.ceil(rate * len(idx))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return np.sort(gen.choice(idx, size=size, replace=False)) if size else idx[:0]


__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_START_MULTIPLES",
    "Threshold",
    "apply_thresholds",
    "audit_sample",
    "choose_threshold",
    "choose_thresholds_per_class",
    "clopper_pearson_lower",
    "min_passing_support",
    "pool_precision_lower",
    "pool_precision_pvalue",
    "sequence_starts",
]
