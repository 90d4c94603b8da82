"""Adjudicators on hand-computed cases and on synthetic crowds with known annotator confusion."""

from __future__ import annotations

import numpy as np
import pytest
from cleanlab.multiannotator import get_label_quality_multiannotator

from labelloop.engine.quality.adjudication import (
    ADJUDICATORS,
    adjudicate,
    check_votes,
    crowdlab,
    dawid_skene,
    majority_vote,
)


def _crowd(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """3 classes; 2 careful annotators (90% right) and 3 careless ones who call most class-1 items class 2 and are
    right on 70% of the rest; everyone labels every item. Majority vote follows the careless trio on class 1."""
    rng = np.random.default_rng(seed)
    k = 3
    truth = rng.integers(0, k, n)
    good = np.full((k, k), 0.05) + np.eye(k) * 0.85
    bad = np.array([[0.7, 0.15, 0.15], [0.1, 0.25, 0.65], [0.15, 0.15, 0.7]])
    confusions = [good, good, bad, bad, bad]
    votes = np.column_stack([[rng.choice(k, p=c[t]) for t in truth] for c in confusions])
    return votes, truth, confusions


def test_majority_vote_hand_computed() -> None:
    votes = np.array([[0, 0, 1], [0, 1, -1], [-1, -1, -1], [2, 2, 2], [0, 1, 2]])
    r = majority_vote(votes, 3)
    assert r.labels.tolist() == [0, -1, -1, 2, -1]
    assert r.needs_review.tolist() == [False, True, False, False, True]  # ties go to review; no votes: nothing to do
    np.testing.assert_allclose(r.confidence, [2 / 3, 0, 0, 1, 0])
    np.testing.assert_allclose(r.posteriors[0], [2 / 3, 1 / 3, 0])


def test_majority_vote_low_agreement_keeps_the_suggestion_but_asks_for_review() -> None:
    votes = np.array([[0, 1, 2, 3, 0], [0, 0, 1, 2, -1]])
    r = majority_vote(votes, 4, min_agreement=0.5)
    assert r.labels.tolist() == [0, 0]
    assert r.needs_review.tolist() == [True, False]  # 2/5 < 0.5; 2/4 meets it


def test_majority_vote_annotator_quality_is_leave_one_out() -> None:
    # annotator 2 always disagrees with the two others, who agree
    votes = np.array([[0, 0, 1], [1, 1, 0], [2, 2, 0], [0, 0, 2]])
    q = majority_vote(votes, 3).annotator_quality
    assert q[2] == 0.0
    # for annotator 0 the others (1 and 2) tie on every item: no evidence either way
    assert np.isnan(q[0]) and np.isnan(q[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_beats_majority_vote_when_careless_annotators_share_a_confusion(seed: int) -> None:
    votes, truth, confusions = _crowd(seed)
    mv = majority_vote(votes, 3)
    ds = dawid_skene(votes, 3, max_iter=500)
    acc_mv = float(np.mean(mv.labels == truth))
    acc_ds = float(np.mean(ds.labels == truth))
    assert acc_ds > acc_mv + 0.05, (acc_ds, acc_mv)
    assert acc_ds > 0.9
    # the estimated annotator accuracy recovers the known one (expected accuracy under the class mix)
    true_acc = np.array([np.mean([c[t, t] for t in truth]) for c in confusions])
    np.testing.assert_allclose(ds.annotator_quality, true_acc, atol=0.06)
    assert ds.annotator_quality[:2].min() > ds.annotator_quality[2:].max()
    # confident items are more often right than the ones sent to review
    assert np.mean(ds.labels[~ds.needs_review] == truth[~ds.needs_review]) > acc_ds


def test_dawid_skene_on_unanimous_votes_matches_them() -> None:
    votes = np.array([[0, 0, -1], [1, 1, 1], [2, -1, 2], [1, -1, -1]] * 10)
    r = dawid_skene(votes, 3)
    assert r.labels.tolist() == [0, 1, 2, 1] * 10
    assert not r.needs_review.any()
    np.testing.assert_allclose(r.posteriors.sum(axis=1), 1.0)


def test_dawid_skene_no_votes_is_unresolved() -> None:
    votes = np.array([[0, 0], [-1, -1], [1, 1]])
    r = dawid_skene(votes, 2)
    assert r.labels[1] == -1 and r.confidence[1] == 0 and not r.needs_review[1]


def _probs(truth: np.ndarray, k: int, seed: int, acc: float = 0.85) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(truth.size) < acc, truth, rng.integers(0, k, truth.size))
    probs = rng.dirichlet(np.ones(k), truth.size) * 0.4
    probs[np.arange(truth.size), pred] += 0.6
    return probs / probs.sum(axis=1, keepdims=True)


def test_crowdlab_agrees_with_cleanlab_consensus() -> None:
    votes, truth, _ = _crowd(3, n=400)
    rng = np.random.default_rng(3)
    votes = np.where(rng.random(votes.shape) < 0.4, -1, votes)  # sparse, as in practice
    votes[(votes < 0).all(axis=1), 0] = 0
    probs = _probs(truth, 3, 3)
    r = crowdlab(votes, 3, probs, review_below=0.5)
    ref = get_label_quality_multiannotator(np.where(votes >= 0, votes, np.nan), probs, verbose=False)
    lq = ref["label_quality"]
    np.testing.assert_array_equal(r.labels, lq["consensus_label"].to_numpy())
    np.testing.assert_allclose(r.confidence, lq["consensus_quality_score"].to_numpy())
    assert r.needs_review.tolist() == (lq["consensus_quality_score"].to_numpy() < 0.5).tolist()
    # the rebuilt posterior gives exactly cleanlab's consensus quality score for the consensus label
    np.testing.assert_allclose(r.posteriors[np.arange(len(truth)), r.labels], r.confidence, atol=1e-9)
    stats = ref["annotator_stats"]
    np.testing.assert_allclose(r.annotator_quality[stats.index.to_numpy(dtype=int)], stats["annotator_quality"])
    assert np.mean(r.labels == truth) > np.mean(majority_vote(votes, 3).labels == truth)


def test_crowdlab_tolerates_silent_annotators_and_empty_items() -> None:
    votes = np.array([[0, 0, -1, -1], [1, 0, -1, -1], [-1, -1, -1, -1], [1, 1, -1, 2]] * 5)
    probs = np.tile([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.1, 0.8, 0.1]], (5, 1))
    r = crowdlab(votes, 3, probs)
    assert (r.labels[2::4] == -1).all() and not r.needs_review[2::4].any()
    assert np.isnan(r.annotator_quality[2]) and np.isfinite(r.annotator_quality[[0, 1, 3]]).all()
    assert (r.labels[0::4] == 0).all() and (r.labels[3::4] == 1).all()


def test_crowdlab_rejects_bad_probabilities() -> None:
    votes = np.array([[0, 0], [1, 0]])
    with pytest.raises(ValueError, match="shape"):
        crowdlab(votes, 2, np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="row 1 is not a probability vector"):
        crowdlab(votes, 2, np.array([[0.5, 0.5], [0.9, 0.9]]))


def test_registry_and_adjudicate() -> None:
    assert set(ADJUDICATORS) == {"majority", "dawid-skene", "crowdlab"}
    votes = np.array([[0, 0, 1], [1, 1, 1]])
    assert adjudicate("majority", votes, 2).labels.tolist() == [0, 1]
    assert adjudicate("dawid-skene", votes, 2, review_below=0.6).method == "dawid-skene"
    with pytest.raises(ValueError, match="known: crowdlab, dawid-skene, majority"):
        adjudicate("mace", votes, 2)
    with pytest.raises(ValueError, match="needs pred_probs"):
        adjudicate("crowdlab", votes, 2)


def test_bad_votes_name_the_cell() -> None:
    with pytest.raises(ValueError, match=r"votes\[1, 2\] = 3: item 1, annotator 2"):
        check_votes(np.array([[0, 1, 1], [0, 1, 3]]), 3)
    with pytest.raises(ValueError, match="2-D"):
        check_votes(np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="not an integer"):
        check_votes(np.array([[0.5, 1.0]]), 2)
