"""Label-error detection: which given labels a model, trained without them, finds implausible (confident learning).

Two steps: :func:`out_of_fold_probs` gives every item probabilities from a head that never saw that item's label
(stratified K-fold), then :func:`find_suspects` asks ``cleanlab.filter.find_label_issues`` (Northcutt et al. 2021)
which labels to flag, ranked so the least plausible comes first. The suspects go to review; nothing is relabelled
automatically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

log = logging.getLogger(__name__)


def _check_labels(y: Any, n_classes: int | None = None) -> tuple[np.ndarray, int]:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices 0..k-1, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        i = int(np.argmax(arr < 0))
        raise ValueError(f"label of item {i} is {arr[i]}; class indices start at 0")
    k = int(arr.max()) + 1 if n_classes is None else n_classes
    if (arr >= k).any():
        i = int(np.argmax(arr >= k))
        raise ValueError(f"label of item {i} is {arr[i]}, outside 0..{k - 1}")
    return arr, k


def out_of_fold_probs(
    X: np.ndarray,
    y: np.ndarray,
    *,
    make_head: Callable[[], Any],
    n_splits: int = 5,
    seed: int = 0,
    n_classes: int | None = None,
) -> np.ndarray:
    """(n, k) probabilities where row ``i`` comes from a head fitted on the folds without item ``i``.

    ``make_head`` is a zero-argument factory of a scikit-learn classifier with ``predict_proba``; a fresh head is
    built per fold. Classes are ``0..k-1`` (``k`` = ``n_classes`` or ``max(y) + 1``); a class missing from a
    fold's training part gets probability 0 there. Each class needs at least ``n_splits`` items.
    """
    X = np.asarray(X)
    y, k = _check_labels(y, n_classes)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    counts = np.bincount(y, minlength=k)
    small = [c for c in range(k) if 0 < counts[c] < n_splits]
    if small:
        raise ValueError(f"classes {small} have fewer than n_splits={n_splits} items ({counts[small].tolist()})")
    out = np.zeros((len(y), k))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, held in folds.split(X, y):
        head = make_head()
        head.fit(X[train], y[train])
        cols = np.asarray(head.classes_, dtype=np.int64)
        out[np.ix_(held, cols)] = head.predict_proba(X[held])
    return out


@dataclass(frozen=True)
class Suspect:
    """A label the model finds implausible: ``self_confidence`` = the model's probability of the given label."""

    index: int
    given: int
    suggested: int
    self_confidence: float
    suggested_prob: float


def find_suspects(
    y: np.ndarray, pred_probs: np.ndarray, *, filter_by: str = "prune_by_noise_rate", n_jobs: int | None = 1
) -> list[Suspect]:
    """Items whose label ``cleanlab.filter.find_label_issues`` flags, least plausible (lowest self-confidence)
    first. ``pred_probs`` must be out-of-fold (see :func:`out_of_fold_probs`), else the model has memorised the
    wrong labels and flags almost nothing."""
    from cleanlab.filter import find_label_issues

    probs = np.asarray(pred_probs, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"pred_probs must be 2-D (n_items, n_classes), got shape {probs.shape}")
    labels, _ = _check_labels(y, probs.shape[1])
    if labels.shape[0] != probs.shape[0]:
        raise ValueError(f"y has {labels.shape[0]} labels but pred_probs has {probs.shape[0]} rows")
    ranked = find_label_issues(
        labels, probs, filter_by=filter_by, return_indices_ranked_by="self_confidence", n_jobs=n_jobs
    )
    out = []
    for i in np.asarray(ranked, dtype=np.int64):
        suggested = int(np.argmax(probs[i]))
        out.append(Suspect(int(i), int(labels[i]), suggested, float(probs[i, labels[i]]), float(probs[i, suggested])))
    log.info("find_suspects: %d of %d labels flagged (%s)", len(out), len(labels), filter_by)
    return out


__all__ = ["Suspect", "find_suspects", "out_of_fold_probs"]
