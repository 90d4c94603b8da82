"""Inter-annotator agreement on a long table of (item, annotator, label) ratings.

When to use which:

- :func:`percent_agreement`: share of agreeing annotator pairs per item, averaged over items with ≥ 2 ratings; easy
  to explain, but inflated when one class dominates.
- :func:`cohen_kappa`: two annotators on the items both rated; chance-corrected.
- :func:`fleiss_kappa`: any number of annotators, but every item must have the same number of ratings (items with
  another count are dropped, and the result says how many were used).
- :func:`krippendorff_alpha`: any number of annotators, missing ratings allowed, nominal or ordinal distances; the
  measure to report for a real labeling project.

All take ratings as a sequence of ``(item, annotator, label)`` triples; labels are hashable. ``categories`` (the
task's label order) is needed for ordinal alpha. Implementations follow the textbook formulas (Fleiss 1971;
Krippendorff 2011, coincidence matrices) and are checked against ``statsmodels`` and ``krippendorff`` in tests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Rating = tuple[Hashable, Hashable, Hashable]  # (item, annotator, label)


@dataclass(frozen=True)
class AgreementResult:
    value: float
    items_used: int
    ratings_used: int


def _by_item(ratings: Sequence[Rating]) -> dict[Hashable, dict[Hashable, Hashable]]:
    """{item: {annotator: label}}; a second rating by the same annotator of the same item is an error."""
    out: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    for item, annotator, label in ratings:
        if annotator in out[item]:
            raise ValueError(f"annotator {annotator!r} rated item {item!r} twice; keep one rating per pair")
        out[item][annotator] = label
    return out


def _categories(ratings: Sequence[Rating], categories: Sequence[Hashable] | None) -> list[Hashable]:
    seen = {label for _, _, label in ratings}
    if categories is None:
        return sorted(seen, key=repr)
    unknown = seen - set(categories)
    if unknown:
        raise ValueError(f"labels {sorted(map(repr, unknown))} are not among the categories {list(categories)}")
    return list(categories)


def percent_agreement(ratings: Sequence[Rating]) -> AgreementResult:
    per_item = [list(v.values()) for v in _by_item(ratings).values() if len(v) >= 2]
    if not per_item:
        raise ValueError("no item has two or more ratings")
    shares = [np.mean([a == b for a, b in combinations(labels, 2)]) for labels in per_item]
    return AgreementResult(float(np.mean(shares)), len(per_item), sum(len(x) for x in per_item))


def cohen_kappa(ratings: Sequence[Rating], annotator_a: Hashable, annotator_b: Hashable) -> AgreementResult:
    pairs = [
        (v[annotator_a], v[annotator_b]) for v in _by_item(ratings).values() if annotator_a in v and annotator_b in v
    ]
    if not pairs:
        raise ValueError(f"annotators {annotator_a!r} and {annotator_b!r} rated no item in common")
    cats = sorted({x for p in pairs for x in p}, key=repr)
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for a, b in pairs:
        table[index[a], index[b]] += 1
    n = table.sum()
    p_o = np.trace(table) / n
    p_e = float((table.sum(axis=1) / n) @ (table.sum(axis=0) / n))
    value = 1.0 if p_e == 1.0 else (p_o - p_e) / (1 - p_e)
    return AgreementResult(float(value), len(pairs), 2 * len(pairs))


def fleiss_table(ratings: Sequence[Rating], categories: Sequence[Hashable] | None = None) -> NDArray[np.int64]:
    """(items, categories) counts for the items with the most common number of ratings."""
    cats = _categories(ratings, categories)
    by_item = _by_item(ratings)
    counts = [len(v) for v in by_item.values()]
    if not counts:
        raise ValueError("no ratings")
    m = max(set(counts), key=counts.count)
    index = {c: i for i, c in enumerate(cats)}
    rows = []
    for v in by_item.values():
        if len(v) == m:
            row = np.zeros(len(cats), dtype=np.int64)
            for label in v.values():
                row[index[label]] += 1
            rows.append(row)
    return np.array(rows)


def fleiss_kappa(ratings: Sequence[Rating], categories: Sequence[Hashable] | None = None) -> AgreementResult:
    table = fleiss_table(ratings, categories).astype(float)
    n_items, _ = table.shape
    m = table[0].sum()
    if m < 2:
        raise ValueError("Fleiss' kappa needs at least two ratings per item")
    p_j = table.sum(axis=0) / (n_items * m)
    p_i = ((table**2).sum(axis=1) - m) / (m * (m - 1))
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    value = 1.0 if p_e == 1.0 else (p_bar - p_e) / (1 - p_e)
    return AgreementResult(float(value), n_items, int(n_items * m))


def krippendorff_alpha(
    ratings: Sequence[Rating],
    *,
    level: Literal["nominal", "ordinal"] = "nominal",
    categories: Sequence[Hashable] | None = None,
) -> AgreementResult:
    """Krippendorff's alpha from the coincidence matrix; ordinal uses the rank-based distance, so ``categories``
    must be given in their order."""
    if level == "ordinal" and categories is None:
        raise ValueError("ordinal alpha needs the categories in their order")
    cats = _categories(ratings, categories)
    index = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    coincidence = np.zeros((k, k))
    used_items = used_ratings = 0
    for v in _by_item(ratings).values():
        labels = [index[x] for x in v.values()]
        m_u = len(labels)
        if m_u < 2:
            continue
        used_items += 1
        used_ratings += m_u
        counts = np.bincount(labels, minlength=k).astype(float)
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m_u - 1)
    if used_items == 0:
        raise ValueError("no item has two or more ratings")
    n_c = coincidence.sum(axis=0)
    n = n_c.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(k)
    else:
        cum = np.cumsum(n_c)
        delta = np.zeros((k, k))
        for c in range(k):
            for d in range(k):
                lo, hi = min(c, d), max(c, d)
                between = cum[hi] - cum[lo] + n_c[lo]  # sum of n_g for g in [lo, hi]
                delta[c, d] = (between - (n_c[c] + n_c[d]) / 2) ** 2
    d_o = float((coincidence * delta).sum() / n)
    d_e = float((np.outer(n_c, n_c) * delta).sum() / (n * (n - 1)))
    value = 1.0 if d_e == 0 else 1.0 - d_o / d_e
    return AgreementResult(value, used_items, used_ratings)


def specific_agreement(ratings: Sequence[Rating], categories: Sequence[Hashable]) -> dict[Hashable, float | None]:
    """Per-class (specific) agreement: of all the annotator pairs where one said class ``c``, the share where the
    other said ``c`` too: ``Σ_i n_ic (n_ic - 1) / Σ_i n_ic (n_i - 1)`` (Uebersax 1982). ``None`` for a class no
    overlapped item received."""
    num = dict.fromkeys(categories, 0.0)
    den = dict.fromkeys(categories, 0.0)
    for v in _by_item(ratings).values():
        n_i = len(v)
        if n_i < 2:
            continue
        for c in categories:
            n_ic = sum(1 for x in v.values() if x == c)
            num[c] += n_ic * (n_ic - 1)
            den[c] += n_ic * (n_i - 1)
    return {c: (num[c] / den[c] if den[c] else None) for c in categories}
