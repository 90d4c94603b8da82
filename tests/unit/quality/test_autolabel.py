"""Auto-labeling thresholds: the exact bound, the fixed-sequence choice, and the guarantee on simulated data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from labelloop.engine.quality.autolabel import (
    Threshold,
    apply_thresholds,
    audit_sample,
    choose_threshold,
    choose_thresholds_per_class,
    clopper_pearson_lower,
    min_passing_support,
    pool_precision_lower,
    pool_precision_pvalue,
    sequence_starts,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 1), (7, 10), (95, 100), (100, 100), (480, 500), (3, 1000)])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_clopper_pearson_matches_scipy_exact_interval(k: int, n: int, alpha: float) -> None:
    one_sided = binomtest(k, n, alternative="greater").proportion_ci(confidence_level=1 - alpha, method="exact")
    two_sided = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact")
    ours = clopper_pearson_lower(k, n, alpha=alpha)
    assert ours == pytest.approx(one_sided.low, abs=1e-10)
    assert ours == pytest.approx(two_sided.low, abs=1e-10)


def test_clopper_pearson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="k=5, n=4"):
        clopper_pearson_lower(5, 4)
    with pytest.raises(ValueError, match="alpha"):
        clopper_pearson_lower(1, 4, alpha=1.5)


def test_min_passing_support() -> None:
    n = min_passing_support(0.95, 0.05)
    assert n == 59
    assert clopper_pearson_lower(n, n) >= 0.95 > clopper_pearson_lower(n - 1, n - 1)


def test_threshold_is_the_lowest_that_passes() -> None:
    conf = np.r_[np.full(200, 0.99), np.full(200, 0.5)]
    correct = np.r_[np.ones(200, bool), np.arange(200) % 2 == 0]
    t = choose_threshold(conf, correct, target=0.95, alpha=0.05)
    assert t.threshold == pytest.approx(0.501)  # every grid point in (0.5, 0.99] selects the same 200 correct items
    assert (t.n_calibration_above, t.precision) == (200, 1.0)
    # three sequences (2x, 4x, 8x the smallest passing support), each at alpha / 3
    assert t.alpha == 0.05 and t.guarantee == "population"
    assert t.lower_bound == pytest.approx(clopper_pearson_lower(200, 200, alpha=0.05 / 3))


def test_sequence_starts() -> None:
    base = min_passing_support(0.95, 0.05 / 3)
    assert base == 80
    assert sequence_starts(0.95, 0.05) == [160, 320, 640]
    assert sequence_starts(0.95, 0.05, multiples=(1,)) == [59]
    assert sequence_starts(0.5, 0.05, min_support=30, multiples=(1, 2)) == [30]
    with pytest.raises(ValueError, match="positive"):
        sequence_starts(0.95, 0.05, multiples=())


def test_sequence_stops_at_the_first_failure() -> None:
    # a band of wrong predictions at 0.9, then many right ones at 0.8: 0.8 alone would pass (5200/5300),
    # but one fixed sequence must not go past the failure at 0.9
    conf = np.r_[np.full(200, 0.99), np.full(100, 0.9), np.full(5000, 0.8)]
    correct = np.r_[np.ones(200, bool), np.zeros(100, bool), np.ones(5000, bool)]
    t = choose_threshold(conf, correct, start_multiples=(2,))
    assert t.threshold == pytest.approx(0.901) and t.start == 118
    assert clopper_pearson_lower(5200, 5300) >= 0.95  # the skipped one would have passed on its own
    # a second sequence that starts below the band (fixed by the confidences alone: 320 items) is tested on its
    # own at alpha / 3 and reaches 0.8; the lowest threshold any sequence reaches is kept
    both = choose_threshold(conf, correct)
    assert both.threshold == 0.0 and both.start == 320 and both.n_calibration_above == 5300


def test_later_start_survives_confident_mislabels() -> None:
    # two wrong labels among the 100 most confident items end a sequence started there; one started lower passes
    rng = np.random.default_rng(3)
    conf = np.sort(rng.uniform(0.5, 1.0, 3000))[::-1]
    correct = rng.random(3000) < 0.99
    correct[:100] = True
    correct[[3, 7, 11, 20]] = False
    early = choose_threshold(conf, correct, start_multiples=(1,))
    assert early.threshold is None and "fails at its first test" in early.note
    t = choose_threshold(conf, correct)
    assert t.threshold is not None and t.n_calibration_above > 1000


def test_none_when_the_target_is_out_of_reach() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 2000)
    correct = rng.random(2000) < 0.85  # confidence says nothing: 85% right everywhere
    t = choose_threshold(conf, correct, target=0.95)
    assert t.threshold is None and t.tested == 3 and "bound" in t.note
    small = choose_threshold(np.full(50, 0.99), np.ones(50, bool))
    assert small.threshold is None and "need 160" in small.note  # 50 all-correct items cannot show 0.95


def _calibrated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    conf = 0.3 + 0.7 * rng.beta(4, 1, n)
    return conf, rng.random(n) < conf  # calibrated: P(correct | conf) = conf


def test_guarantee_holds_on_simulated_calibrated_data() -> None:
    rng = np.random.default_rng(1)
    big_conf, big_ok = _calibrated(rng, 400_000)
    target, alpha, draws = 0.95, 0.05, 200
    violations, coverage = 0, []
    for _ in range(draws):
        t = choose_threshold(*_calibrated(rng, 2000), target=target, alpha=alpha)
        if t.threshold is None:
            coverage.append(0.0)
            continue
        above = big_conf >= t.threshold
        violations += big_ok[above].mean() < target
        coverage.append(above.mean())
    # P(precision < target) <= alpha; allow binomial noise of 200 draws (3 sd of 0.05 is ~0.046)
    assert violations / draws <= alpha + 0.046
    # and it is not vacuous: the ideal threshold here covers ~35% (precision 0.95 at conf >= ~0.91)
    assert np.mean(coverage) > 0.2


def test_per_class_thresholds_and_apply() -> None:
    rng = np.random.default_rng(2)
    n = 9000
    pred = rng.integers(0, 3, n)
    conf = rng.uniform(0.4, 1.0, n)
    probs = np.zeros((n, 3))
    probs[np.arange(n), pred] = conf
    for c in range(3):
        probs[:, c] += (1 - conf) / 2 * (pred != c)
    # class 0 is right with probability min(1, 0.6 + 0.45 conf) (precision above t is 0.95 at t ~= 0.58),
    # class 1 with 0.995, class 2 only 60% of the time
    p_right = np.select([pred == 0, pred == 1], [np.minimum(1, 0.6 + 0.45 * conf), 0.995], 0.6)
    right = rng.random(n) < p_right
    y = np.where(right, pred, (pred + 1) % 3)
    th = choose_thresholds_per_class(probs, y, target=0.95, alpha=0.05, class_names=["a", "b", "c"])
    assert [th[c].per_class for c in range(3)] == ["a", "b", "c"]
    assert all(th[c].alpha == pytest.approx(0.05 / 3) for c in range(3))
    assert th[2].threshold is None
    assert th[1].threshold is not None and th[1].threshold < 0.45  # every class-1 prediction qualifies
    assert th[0].threshold is not None and 0.58 < th[0].threshold < 0.95
    mask = apply_thresholds(probs, th)
    assert not mask[pred == 2].any()
    np.testing.assert_array_equal(mask[pred == 0], conf[pred == 0] >= th[0].threshold)
    assert np.mean(y[mask] == pred[mask]) >= 0.95


def test_apply_global_threshold_and_bad_classes() -> None:
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    t = Threshold(0.75, 100, 0.99, 0.96, 0.95, 0.05)
    assert apply_thresholds(probs, t).tolist() == [True, False, True]
    assert not apply_thresholds(probs, Threshold(None, 0, None, None, 0.95, 0.05)).any()
    with pytest.raises(ValueError, match=r"classes \[5\]"):
        apply_thresholds(probs, {5: t})


def test_audit_sample() -> None:
    idx = np.arange(100, 200)
    a = audit_sample(idx, rate=0.05, rng=3)
    assert len(a) == 5 and len(set(a.tolist())) == 5 and set(a.tolist()) <= set(idx.tolist())
    assert a.tolist() == audit_sample(idx, rate=0.05, rng=np.random.default_rng(3)).tolist()
    assert len(audit_sample(idx, rate=0.001, rng=0)) == 1  # at least one once anything is auto-labelled
    assert len(audit_sample(idx, rate=0.0, rng=0)) == 0
    with pytest.raises(ValueError, match="rate"):
        audit_sample(idx, rate=2.0)


def test_bad_calibration_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"calibration item 1 is 1\.5"):
        choose_threshold([0.5, 1.5], [True, False])
    with pytest.raises(ValueError, match="same length"):
        choose_threshold([0.5, 0.6], [True])
    with pytest.raises(ValueError, match="target"):
        choose_threshold([0.5], [True], target=1.0)
    with pytest.raises(ValueError, match="y_true of calibration item 0 is 3"):
        choose_thresholds_per_class(np.full((2, 2), 0.5), np.array([3, 0]))


@pytest.mark.parametrize(("errors", "n", "m", "target"), [(0, 40, 60, 0.95), (3, 100, 150, 0.95), (5, 50, 20, 0.9)])
def test_pool_pvalue_is_the_exact_hypergeometric_tail(errors: int, n: int, m: int, target: float) -> None:
    from math import comb

    e_pool = next(e for e in range(m + 1) if (m - e) < target * m - 1e-9)  # fewest pool errors below target
    total = errors + e_pool
    # P(at most `errors` of the `total` errors fall among the n calibration items of n + m)
    exact = sum(comb(total, j) * comb(n + m - total, n - j) for j in range(errors + 1)) / comb(n + m, n)
    assert pool_precision_pvalue(errors, n, m, target=target) == pytest.approx(exact, rel=1e-9)


def test_pool_lower_bound_is_the_edge_of_the_test() -> None:
    errors, n, m, alpha = 4, 300, 500, 0.05
    bound = pool_precision_lower(errors, n, m, alpha=alpha)
    worst = round((1 - bound) * m)  # the most pool errors the test cannot reject
    # "worst + 1 or more pool errors" is rejected, "worst or more" is not
    assert pool_precision_pvalue(errors, n, m, target=1 - (worst + 0.5) / m) <= alpha
    assert pool_precision_pvalue(errors, n, m, target=1 - (worst - 0.5) / m) > alpha
    assert pool_precision_lower(0, 100, 0, alpha=alpha) == 1.0


@pytest.mark.parametrize(
    ("p_right", "min_coverage"),
    [
        (lambda c: np.full_like(c, 0.95), 0.0),
        (lambda c: 0.9 + 0.08 * c, 0.0),
        (lambda c: np.minimum(1.0, 0.7 + 0.35 * c), 0.25),
    ],
    ids=["flat-at-target", "slowly-rising", "steep"],
)
def test_pool_guarantee_holds_on_the_auto_labelled_items(p_right: Any, min_coverage: float) -> None:
    """What a user measures: the precision of the pool items that were auto-labelled, over many draws. Flat at
    the target is the hard case: every threshold's pool precision is a coin flip around 0.95."""
    rng = np.random.default_rng(4)
    target, alpha, draws = 0.95, 0.05, 300
    violations, coverage = 0, []
    for _ in range(draws):
        conf = rng.uniform(0, 1, 3500)
        right = rng.random(3500) < p_right(conf)
        t = choose_threshold(conf[:1500], right[:1500], pool_confidence=conf[1500:], target=target, alpha=alpha)
        assert t.guarantee == "pool"
        if t.threshold is None:
            coverage.append(0.0)
            continue
        chosen = conf[1500:] >= t.threshold
        assert t.n_pool_above == chosen.sum()
        violations += right[1500:][chosen].mean() < target
        coverage.append(chosen.mean())
    assert violations / draws <= alpha + 0.038  # 3 sd of a 0.05 rate over 300 draws
    # not vacuous where confidence separates well (ideal coverage there is ~0.6)
    assert np.mean(coverage) >= min_coverage
