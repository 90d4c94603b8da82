"""Adjudication: one label per item from several annotators' votes, and when a person must decide instead.

All methods take ``votes``, an ``(n_items, n_annotators)`` int array of class indices with ``-1`` for "this
annotator did not label this item", and return a :class:`Resolution`. A label of ``-1`` means unresolved (a tie, or
an item nobody labelled); ``needs_review`` marks the items the machine should not settle alone (ties and
low-confidence consensus). Items without any vote get ``-1``, confidence 0 and no review flag: there is nothing to
adjudicate.

- :func:`majority_vote`: the plurality label; confidence = its share of the item's votes. Ties are never broken
  silently: they get ``-1`` and go to review.
- :func:`dawid_skene`: EM over per-annotator confusion matrices (Dawid & Skene 1979), so a reliable annotator
  outweighs two careless ones and systematic confusions (one annotator calling every "ambiguous" "mild") are undone.
- :func:`crowdlab`: CROWDLAB (Goh, Tkachenko & Mueller 2022) via cleanlab, which also weighs a model's predicted
  probabilities against the annotators; the best when a decent model exists and most items have few votes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_TIE_EPS = 1e-12


@dataclass
class Resolution:
    """Adjudicated labels of ``n`` items. ``posteriors`` (n, k) and ``annotator_quality`` (n_annotators,) are the
    method's own estimates where it has them (the vote shares for majority vote; NaN for an annotator with no vote)."""

    method: str
    labels: np.ndarray
    confidence: np.ndarray
    needs_review: np.ndarray
    posteriors: np.ndarray | None = None
    annotator_quality: np.ndarray | None = None

    @property
    def resolved(self) -> np.ndarray:
        """Items with a label that needs no review."""
        return (self.labels >= 0) & ~self.needs_review


def check_votes(votes: Any, n_classes: int) -> np.ndarray:
    """``votes`` as an int64 (n_items, n_annotators) array; raises naming the first bad cell."""
    if not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    arr = np.asarray(votes)
    if arr.ndim != 2:
        raise ValueError(f"votes must be 2-D (n_items, n_annotators), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
        bad = np.argwhere(~(np.mod(arr, 1) == 0))[0]
        raise ValueError(f"votes[{bad[0]}, {bad[1]}] = {arr[tuple(bad)]!r} is not an integer class index")
    arr = arr.astype(np.int64)
    bad_mask = (arr < -1) | (arr >= n_classes)
    if bad_mask.any():
        i, j = np.argwhere(bad_mask)[0]
        raise ValueError(
            f"votes[{i}, {j}] = {arr[i, j]}: item {i}, annotator {j} is not a class index in 0..{n_classes - 1} "
            "or -1 (no label)"
        )
    return arr


def vote_counts(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_items, n_classes) number of votes per class."""
    counts = np.zeros((votes.shape[0], n_classes), dtype=np.int64)
    rows, cols = np.nonzero(votes >= 0)
    np.add.at(counts, (rows, votes[rows, cols]), 1)
    return counts


def _argmax_or_tie(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the arg-max, and whether another class reaches the same maximum (then the label is -1)."""
    top = scores.max(axis=1, keepdims=True)
    n_top = (scores >= top - _TIE_EPS).sum(axis=1)
    tie = n_top > 1
    labels = np.where(tie, -1, scores.argmax(axis=1))
    return labels.astype(np.int64), tie


def majority_vote(votes: np.ndarray, n_classes: int, *, min_agreement: float = 0.5) -> Resolution:
    """Plurality label; ties → ``-1`` and review; a winning share below ``min_agreement`` → review (label kept as
    the suggestion). ``annotator_quality`` = how often each annotator agrees with the majority of the *other*
    annotators of an item (items where the others tie are skipped), so an annotator is not judged by their own vote."""
    votes = check_votes(votes, n_classes)
    if not 0.0 <= min_agreement <= 1.0:
        raise ValueError(f"min_agreement must be in [0, 1], got {min_agreement}")
    counts = vote_counts(votes, n_classes)
    n_votes = counts.sum(axis=1)
    has = n_votes > 0
    shares = np.divide(counts, n_votes[:, None], out=np.zeros(counts.shape, dtype=float), where=has[:, None])
    labels, tie = _argmax_or_tie(counts.astype(float))
    labels = np.where(has, labels, -1)
    confidence = np.where(has & ~tie, shares.max(axis=1), 0.0)
    needs_review = has & (tie | (confidence < min_agreement))
    return Resolution(
        "majority", labels, confidence, needs_review, posteriors=shares, annotator_quality=_loo_agreement(votes, counts)
    )


def _loo_agreement(votes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.full(votes.shape[1], np.nan)
    for j in range(votes.shape[1]):
        rated = np.nonzero(votes[:, j] >= 0)[0]
        if rated.size == 0:
            continue
        others = counts[rated].copy()
        others[np.arange(rated.size), votes[rated, j]] -= 1
        ok = others.sum(axis=1) > 0
        other_label, tie = _argmax_or_tie(others[ok].astype(float))
        keep = ~tie
        if keep.any():
            out[j] = float(np.mean(other_label[keep] == votes[rated[ok], j][keep]))
    return out


def dawid_skene(
    votes: np.ndarray,
    n_classes: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    review_below: float = 0.7,
    smoothing: float = 0.01,
) -> Resolution:
    """Dawid-Skene EM. Start from the vote shares (majority vote), then alternate: class priors and each
    annotator's confusion matrix ``P(says l | true k)`` from the current posteriors (plus ``smoothing`` pseudo-counts,
    so an annotator never seen on a class does not get a zero probability that vetoes it), and posteriors from
    those. Stops when no posterior moves more than ``tol``. ``annotator_quality`` = the annotator's estimated
    accuracy on the items they labelled."""
    votes = check_votes(votes, n_classes)
    if max_iter < 1 or tol <= 0 or smoothing < 0:
        raise ValueError(f"need max_iter >= 1, tol > 0, smoothing >= 0; got {max_iter}, {tol}, {smoothing}")
    n, m = votes.shape
    k = n_classes
    observed = votes >= 0
    one_hot = np.zeros((n, m, k))
    rows, cols = np.nonzero(observed)
    one_hot[rows, cols, votes[rows, cols]] = 1.0
    counts = one_hot.sum(axis=1)
    has = counts.sum(axis=1) > 0
    post = np.divide(counts, counts.sum(axis=1, keepdims=True), out=np.full((n, k), 1.0 / k), where=has[:, None])
    delta = np.inf
    for _ in range(max_iter):
        w = post[has]
        prior = (w.sum(axis=0) + smoothing) / (w.sum() + k * smoothing)
        # confusion[j, true, said] ∝ Σ_i post[i, true] * 1[votes[i, j] == said]
        confusion = np.einsum("it,ijs->jts", w, one_hot[has]) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_lik = np.einsum("ijs,jts->it", one_hot, np.log(confusion)) + np.log(prior)
        log_lik -= log_lik.max(axis=1, keepdims=True)
        new = np.exp(log_lik)
        new /= new.sum(axis=1, keepdims=True)
        new[~has] = 1.0 / k
        delta = float(np.abs(new - post).max())
        post = new
        if delta < tol:
            break
    else:
        log.info("dawid_skene: stopped after max_iter=%d (largest posterior change %.2g)", max_iter, delta)
    labels, tie = _argmax_or_tie(post)
    labels = np.where(has, labels, -1)
    confidence = np.where(has, post.max(axis=1), 0.0)
    needs_review = has & (tie | (confidence < review_below))
    rated_class = np.einsum("it,ij->jt", post, observed.astype(float))  # expected true-class counts per annotator
    n_rated = observed.sum(axis=0)
    diag = np.einsum("jtt->jt", confusion)
    quality = np.divide((rated_class * diag).sum(axis=1), n_rated, out=np.full(m, np.nan), where=n_rated > 0)
    return Resolution("dawid-skene", labels, confidence, needs_review, posteriors=post, annotator_quality=quality)


def crowdlab(
    votes: np.ndarray,
    n_classes: int,
    pred_probs: np.ndarray,
    *,
    review_below: float = 0.5,
    calibrate_probs: bool = False,
) -> Resolution:
    """CROWDLAB consensus via ``cleanlab.multiannotator.get_label_quality_multiannotator`` (``best_quality``).

    ``pred_probs`` (n_items, n_classes) should be out-of-fold (see :func:`labelloop.engine.quality.label_errors.
    out_of_fold_probs`): in-sample probabilities make the model look more trustworthy than it is. confidence =
    cleanlab's consensus quality score; below ``review_below`` → review. ``posteriors`` = CROWDLAB's weighted
    ensemble of model and annotators (rebuilt from the weights cleanlab returns; the consensus quality score is
    this posterior's probability of the consensus label). Annotators without any vote are dropped before calling
    cleanlab (quality NaN); items without any vote get ``-1``.
    """
    from cleanlab.multiannotator import get_label_quality_multiannotator

    votes = check_votes(votes, n_classes)
    probs = np.asarray(pred_probs, dtype=float)
    if probs.shape != (votes.shape[0], n_classes):
        raise ValueError(f"pred_probs has shape {probs.shape}, expected ({votes.shape[0]}, {n_classes})")
    bad = ~np.isfinite(probs).all(axis=1) | (np.abs(probs.sum(axis=1) - 1.0) > 1e-3) | (probs < 0).any(axis=1)
    if bad.any():
        raise ValueError(f"pred_probs row {int(np.argmax(bad))} is not a probability vector: {probs[bad][0]}")
    n, m = votes.shape
    has = (votes >= 0).any(axis=1)
    active = (votes >= 0).any(axis=0)
    sub = votes[has][:, active]
    if sub.shape[1] < 2 or ((sub >= 0).sum(axis=1) < 2).all():
        raise ValueError("crowdlab needs at least two annotators and at least one item with two or more votes")
    labels_ma = np.where(sub >= 0, sub, np.nan).astype(float)
    out = get_label_quality_multiannotator(
        labels_ma,
        probs[has],
        return_detailed_quality=False,
        return_weights=True,
        verbose=False,
        calibrate_probs=calibrate_probs,
    )
    lq = out["label_quality"]
    post_sub = _crowdlab_posteriors(
        labels_ma,
        probs[has],
        lq["annotator_agreement"].to_numpy(),
        lq["num_annotations"].to_numpy(),
        float(out["model_weight"]),
        np.asarray(out["annotator_weight"], dtype=float),
    )
    labels = np.full(n, -1, dtype=np.int64)
    confidence = np.zeros(n)
    posteriors = np.full((n, n_classes), np.nan)
    labels[has] = lq["consensus_label"].to_numpy().astype(np.int64)
    confidence[has] = np.clip(lq["consensus_quality_score"].to_numpy(dtype=float), 0.0, 1.0)
    posteriors[has] = post_sub
    needs_review = has & (confidence < review_below)
    quality = np.full(m, np.nan)
    stats = out["annotator_stats"]  # index = column position in labels_ma
    quality[np.nonzero(active)[0][stats.index.to_numpy(dtype=int)]] = stats["annotator_quality"].to_numpy(dtype=float)
    return Resolution("crowdlab", labels, confidence, needs_review, posteriors=posteriors, annotator_quality=quality)


def _crowdlab_posteriors(
    labels_ma: np.ndarray,
    pred_probs: np.ndarray,
    agreement: np.ndarray,
    num_annotations: np.ndarray,
    model_weight: float,
    annotator_weight: np.ndarray,
) -> np.ndarray:
    """CROWDLAB's posterior: weighted average of the model's probabilities and one "soft vote" per annotator
    (consensus likelihood on the class they chose, the rest spread evenly), as in cleanlab 2.x."""
    k = pred_probs.shape[1]
    p_same = float(np.mean(agreement[num_annotations != 1]))
    p_other = (1.0 - p_same) / (k - 1)
    observed = ~np.isnan(labels_ma)
    soft = np.zeros_like(pred_probs)
    for j in range(labels_ma.shape[1]):
        rows = observed[:, j]
        said = np.zeros((rows.sum(), k))
        said[np.arange(rows.sum()), labels_ma[rows, j].astype(int)] = 1.0
        soft[rows] += annotator_weight[j] * (said * p_same + (1 - said) * p_other)
    total = model_weight + observed.astype(float) @ annotator_weight
    return (pred_probs * model_weight + soft) / total[:, None]


Adjudicator = Callable[..., Resolution]

ADJUDICATORS: dict[str, Adjudicator] = {
    "majority": majority_vote,
    "dawid-skene": dawid_skene,
    "crowdlab": crowdlab,
}


def adjudicate(
    method: str, votes: np.ndarray, n_classes: int, *, pred_probs: np.ndarray | None = None, **options: Any
) -> Resolution:
    """Run the adjudicator named ``method`` (a key of :data:`ADJUDICATORS`); ``pred_probs`` only for crowdlab."""
    if method not in ADJUDICATORS:
        raise ValueError(f"unknown adjudication method {method!r}; known: {', '.join(sorted(ADJUDICATORS))}")
    if method == "crowdlab":
        if pred_probs is None:
            raise ValueError("adjudication method 'crowdlab' needs pred_probs (model probabilities per item)")
        return crowdlab(votes, n_classes, pred_probs, **options)
    if pred_probs is not None:
        raise ValueError(f"adjudication method {method!r} does not use pred_probs; only 'crowdlab' does")
    return ADJUDICATORS[method](votes, n_classes, **options)


__all__ = [
    "ADJUDICATORS",
    "Resolution",
    "adjudicate",
    "check_votes",
    "crowdlab",
    "dawid_skene",
    "majority_vote",
    "vote_counts",
]
