"""Auto-labeling under a precision target, with a statistical guarantee instead of a hand-picked cut-off.

A model's label is accepted for an item when its confidence reaches a threshold chosen on a *calibration set*:
human-labelled items the model was not trained on, drawn like the pool. The guarantee (Learn-then-Test, Angelopoulos
et al. 2021): with probability at least ``1 - alpha`` over the calibration draw, the precision of the auto-labels at
the chosen threshold, P(model right | confidence ≥ threshold), is at least ``target``.

How: for each candidate threshold ``t`` the null hypothesis "precision(t) < target" is rejected when the one-sided
Clopper-Pearson lower bound of the calibration precision above ``t`` reaches the target (an exact binomial test at
level ``alpha``). Thresholds are tested in a fixed order, from high to low, stopping at the first one not rejected;
fixed-sequence testing controls the family-wise error at ``alpha`` with no multiplicity correction, so the lowest
rejected threshold carries the guarantee. The order is fixed before looking at correctness: candidates are a fixed
grid, and the sequence starts at the highest grid threshold with ``start_support`` calibration items above it (this
depends on the confidences only). Starting lower than the top matters: above the very top few items no bound can
reach the target (``n`` all-correct items give a bound of ``alpha ** (1 / n)``), and one failure ends the sequence.

Per-class thresholds (:func:`choose_thresholds_per_class`) test each predicted class on its own, by default at
``alpha / k`` each (Bonferroni), so that "every auto-labelled class meets the target" holds at ``1 - alpha``; then
the precision over all auto-labels meets it too. A class without enough calibration support is not auto-labelled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta

log = logging.getLogger(__name__)

DEFAULT_GRID = np.round(np.linspace(1.0, 0.0, 1001), 3)  # step 0.001, high to low


def clopper_pearson_lower(k: int, n: int, *, alpha: float = 0.05) -> float:
    """One-sided ``1 - alpha`` exact (Clopper-Pearson) lower confidence bound of a binomial proportion ``k / n``."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def min_passing_support(target: float, alpha: float) -> int:
    """Smallest ``n`` for which ``n`` correct out of ``n`` reach a lower bound ≥ ``target``: below it nothing passes."""
    return math.ceil(math.log(alpha) / math.log(target))


@dataclass(frozen=True)
class Threshold:
    """The chosen threshold (``None``: nothing may be auto-labelled) and the calibration evidence for it:
    ``precision`` / ``lower_bound`` among the ``n_calibration_above`` calibration items at or above it (for ``None``:
    at the first tested threshold, i.e. why it failed). ``per_class``: the predicted class it applies to."""

    threshold: float | None
    n_calibration_above: int
    precision: float | None
    lower_bound: float | None
    target: float
    alpha: float
    per_class: str | None = None
    tested: int = 0
    note: str = ""


def _check_target(target: float, alpha: float, min_support: int) -> None:
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if min_support < 1:
        raise ValueError(f"min_support must be >= 1, got {min_support}")


def choose_threshold(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    *,
    target: float = 0.95,
    alpha: float = 0.05,
    min_support: int = 30,
    start_support: int | None = None,
    grid: np.ndarray | None = None,
    per_class: str | None = None,
) -> Threshold:
    """The lowest threshold whose precision guarantee holds (see the module docstring); ``threshold=None`` when
    even the first tested one fails or the calibration set is too small.

    ``confidence``: the model's confidence in its predicted label for each calibration item; ``correct``: whether
    that label equals the human one. ``start_support`` fixes where the sequence starts; the default,
    ``max(min_support, 3 × min_passing_support)`` (177 items for 0.95 / 0.05), tolerates 3 errors there, so a start
    region that is 99% right passes about 90% of the time (at 2× it would be 67%, at 1× 55%: one unlucky error
    would end the sequence before it began). A later start is not free either: when the first test fails the
    answer is None, whereas a failure further down still returns the threshold before it. ``grid``: candidate
    thresholds (default 0.001 steps).
    """
    _check_target(target, alpha, min_support)
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct)
    if conf.ndim != 1 or ok.shape != conf.shape:
        raise ValueError(f"confidence and correct must be 1-D of the same length, got {conf.shape} and {ok.shape}")
    if ok.dtype != bool:
        if not np.isin(ok, (0, 1)).all():
            raise ValueError(f"correct must be booleans (or 0/1), got {ok[~np.isin(ok, (0, 1))][:3]}")
        ok = ok.astype(bool)
    bad = ~np.isfinite(conf) | (conf < 0) | (conf > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"confidence of calibration item {i} is {conf[i]}, not in [0, 1]")
    start = max(min_support, start_support if start_support is not None else 3 * min_passing_support(target, alpha))
    candidates = np.sort(np.unique(np.asarray(DEFAULT_GRID if grid is None else grid, dtype=float)))[::-1]
    common = {"target": target, "alpha": alpha, "per_class": per_class}
    # n_t and k_t for every candidate: items with confidence >= t
    order = np.argsort(-conf, kind="stable")
    sorted_conf, sorted_ok = conf[order], np.cumsum(ok[order])
    n_t = np.searchsorted(-sorted_conf, -candidates, side="right")
    seq = np.nonzero(n_t >= start)[0]
    if seq.size == 0:
        note = f"{len(conf)} calibration items, {int(n_t.max(initial=0))} at most above a threshold; need {start}"
        return Threshold(None, int(n_t.max(initial=0)), None, None, note=note, **common)
    n_seq = n_t[seq]
    k_seq = sorted_ok[n_seq - 1]
    lower = np.where(k_seq > 0, beta.ppf(alpha, np.maximum(k_seq, 1), n_seq - k_seq + 1), 0.0)
    fails = np.nonzero(lower < target)[0]
    n_pass = int(fails[0]) if fails.size else len(seq)
    if n_pass == 0:
        n0, k0 = int(n_seq[0]), int(k_seq[0])
        note = f"first tested threshold {candidates[seq[0]]:.3f}: {k0}/{n0} correct, bound {lower[0]:.4f} < {target}"
        return Threshold(None, n0, k0 / n0, float(lower[0]), tested=1, note=note, **common)
    last = n_pass - 1
    n, k = int(n_seq[last]), int(k_seq[last])
    return Threshold(
        float(candidates[seq[last]]), n, k / n, float(lower[last]), tested=min(n_pass + 1, len(seq)), **common
    )


def choose_thresholds_per_class(
    probs: np.ndarray,
    y_true: np.ndarray,
    *,
    target: float = 0.95,
    alpha: float = 0.05,
    min_support: int = 30,
    bonferroni: bool = True,
    class_names: Sequence[str] | None = None,
    **options: Any,
) -> dict[int, Threshold]:
    """One threshold per predicted class (:func:`choose_threshold` on the calibration items predicted as that class,
    at ``alpha / k`` when ``bonferroni``). ``probs``: (n, k) calibration probabilities; ``y_true``: their human
    labels (class indices)."""
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
    pred = p.argmax(axis=1)
    conf = p.max(axis=1)
    level = alpha / k if bonferroni else alpha
    out = {}
    for c in range(k):
        mask = pred == c
        name = str(c) if class_names is None else str(class_names[c])
        out[c] = choose_threshold(
            conf[mask], y[mask] == c, target=target, alpha=level, min_support=min_support, per_class=name, **options
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
    "Threshold",
    "apply_thresholds",
    "audit_sample",
    "choose_threshold",
    "choose_thresholds_per_class",
    "clopper_pearson_lower",
    "min_passing_support",
]
