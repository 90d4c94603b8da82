"""Numeric measures: hand cases, hypothesis properties, and equality with modAL on the same inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelloop.strategies import StrategyInputs, make_strategy
from labelloop.strategies.bayesian import bald
from labelloop.strategies.committee import consensus_entropy, kl_to_consensus, vote_entropy
from labelloop.strategies.uncertainty import entropy, least_confidence, margin

SETTINGS = settings(max_examples=60, deadline=None)


def _normalise(raw: np.ndarray, axis: int) -> np.ndarray:
    raw = raw + 1e-3  # strictly positive rows
    return raw / raw.sum(axis=axis, keepdims=True)


@st.composite
def proba_arrays(draw: Any, min_k: int = 1) -> np.ndarray:
    n, k = draw(st.integers(1, 12)), draw(st.integers(min_k, 6))
    raw = draw(arrays(np.float64, (n, k), elements=st.floats(0, 1)))
    sparse = draw(arrays(np.bool_, (n, k)))
    return _normalise(np.where(sparse, 0.0, raw), axis=1)


@st.composite
def sample_arrays(draw: Any) -> np.ndarray:
    n, k, t = draw(st.integers(1, 8)), draw(st.integers(2, 5)), draw(st.integers(1, 6))
    return _normalise(draw(arrays(np.float64, (n, k, t), elements=st.floats(0, 1))), axis=1)


@st.composite
def committee_arrays(draw: Any) -> np.ndarray:
    m, n, k = draw(st.integers(1, 6)), draw(st.integers(1, 8)), draw(st.integers(2, 5))
    return _normalise(draw(arrays(np.float64, (m, n, k), elements=st.floats(0, 1))), axis=2)


# ------------------------------------------------------------------------------------------- uncertainty
def test_hand_cases() -> None:
    p = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(least_confidence(p), [0.5, 0.0, 0.6])
    np.testing.assert_allclose(margin(p), [0.2, 1.0, 0.0])
    np.testing.assert_allclose(entropy(p), [-(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)), 0.0,
                                            -(0.8 * np.log(0.4) + 0.2 * np.log(0.2))])
    np.testing.assert_array_equal(margin(np.ones((3, 1))), np.zeros(3))


def test_margin_strategy_picks_the_smallest_margins() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=200)
    picks = make_strategy("margin").query(StrategyInputs(proba=p), np.arange(200), np.array([], int), 10, rng=rng)
    np.testing.assert_array_equal(np.sort(picks), np.sort(np.argsort(margin(p))[:10]))
    assert list(margin(p)[picks]) == sorted(margin(p)[picks])  # most uncertain first


@SETTINGS
@given(proba_arrays())
def test_uncertainty_bounds(p: np.ndarray) -> None:
    k = p.shape[1]
    assert np.all((least_confidence(p) >= -1e-12) & (least_confidence(p) <= 1 - 1 / k + 1e-12))
    assert np.all((margin(p) >= -1e-12) & (margin(p) <= 1 + 1e-12))
    assert np.all((entropy(p) >= -1e-12) & (entropy(p) <= np.log(k) + 1e-9))


@SETTINGS
@given(proba_arrays())
def test_uncertainty_equals_modal(p: np.ndarray) -> None:
    from modAL import uncertainty as mu

    np.testing.assert_allclose(least_confidence(p), mu._proba_uncertainty(p), atol=1e-12)
    np.testing.assert_allclose(margin(p), mu._proba_margin(p), atol=1e-12)
    np.testing.assert_allclose(entropy(p), mu._proba_entropy(p), atol=1e-12)


class _FixedClassifier:
    """Duck-typed fitted classifier for modAL's public functions: returns precomputed probabilities."""

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.proba[x[:, 0].astype(int)]


def test_public_modal_margin_on_fixed_outputs() -> None:
    from modAL.uncertainty import classifier_entropy, classifier_margin, classifier_uncertainty

    p = np.random.default_rng(1).dirichlet(np.ones(3), size=30)
    clf, x = _FixedClassifier(p), np.arange(30)[:, None]
    np.testing.assert_allclose(margin(p), classifier_margin(clf, x))
    np.testing.assert_allclose(least_confidence(p), classifier_uncertainty(clf, x))
    np.testing.assert_allclose(entropy(p), classifier_entropy(clf, x))


# ------------------------------------------------------------------------------------------------- BALD
def test_bald_is_zero_when_passes_agree() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=20)
    np.testing.assert_allclose(bald(np.repeat(p[:, :, None], 7, axis=2)), 0.0, atol=1e-12)


def test_bald_prefers_disagreement_over_aleatoric_noise() -> None:
    agree_unsure = np.full((1, 2, 4), 0.5)  # every pass says 50/50: aleatoric
    disagree = np.array([[[0.99, 0.01, 0.99, 0.01], [0.01, 0.99, 0.01, 0.99]]])  # confident, split: epistemic
    assert bald(disagree)[0] > 0.5 > bald(agree_unsure)[0]


@SETTINGS
@given(sample_arrays())
def test_bald_bounds(p: np.ndarray) -> None:
    h_mean = entropy(p.mean(axis=2))
    b = bald(p)
    assert np.all(b >= 0) and np.all(b <= h_mean + 1e-9)


# -------------------------------------------------------------------------------------------- committee
class _FixedCommittee:
    """Duck-typed modAL Committee over precomputed (m, n, k) member probabilities; X holds item positions.

    Members vote ``argmax`` (first class on ties), as a scikit-learn classifier's ``predict`` does."""

    def __init__(self, cp: np.ndarray) -> None:
        self.cp = cp
        self.classes_ = np.arange(cp.shape[2])

    def __len__(self) -> int:
        return self.cp.shape[0]

    def __iter__(self) -> Any:
        return iter(range(self.cp.shape[0]))

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return x[:, 0].astype(int)

    def vote(self, x: np.ndarray) -> np.ndarray:
        return self.cp[:, self._rows(x), :].argmax(axis=2).T  # (n, m)

    def vote_proba(self, x: np.ndarray) -> np.ndarray:
        return np.transpose(self.cp[:, self._rows(x), :], (1, 0, 2))  # (n, m, k)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.cp[:, self._rows(x), :].mean(axis=0)


@SETTINGS
@given(committee_arrays())
def test_committee_measures_equal_modal_on_fixed_outputs(cp: np.ndarray) -> None:
    from modAL import disagreement as md

    c, x = _FixedCommittee(cp), np.arange(cp.shape[1])[:, None]
    np.testing.assert_allclose(vote_entropy(cp), md.vote_entropy(c, x), atol=1e-12)
    np.testing.assert_allclose(kl_to_consensus(cp, "max"), md.KL_max_disagreement(c, x), atol=1e-10)
    np.testing.assert_allclose(consensus_entropy(cp), md.consensus_entropy(c, x), atol=1e-12)


@SETTINGS
@given(committee_arrays())
def test_mean_kl_to_consensus_is_the_committee_mutual_information(cp: np.ndarray) -> None:
    member_h = entropy(cp.reshape(-1, cp.shape[2])).reshape(cp.shape[:2]).mean(axis=0)
    np.testing.assert_allclose(kl_to_consensus(cp, "mean"), consensus_entropy(cp) - member_h, atol=1e-10)
    np.testing.assert_allclose(kl_to_consensus(cp, "mean"), bald(np.transpose(cp, (1, 2, 0))), atol=1e-10)
    assert np.all(vote_entropy(cp) <= np.log(min(cp.shape[0], cp.shape[2])) + 1e-9)


def test_committee_measures_equal_modal_on_a_real_committee() -> None:
    from modAL import disagreement as md
    from modAL.models import ActiveLearner, Committee
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    from labelloop.strategies._modal_compat import modal_sklearn_compat

    x, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0)
    rng = np.random.default_rng(0)
    with modal_sklearn_compat():
        learners = []
        for est in (LogisticRegression(max_iter=500), GaussianNB(), DecisionTreeClassifier(max_depth=3)):
            idx = rng.choice(150, size=60, replace=False)
            learner = ActiveLearner(estimator=est, X_training=x[idx], y_training=y[idx])
            learner.teach(x[150:170], y[150:170])  # the call that needs the shim on scikit-learn >= 1.8
            learners.append(learner)
        committee = Committee(learner_list=learners)
        cp = np.stack([learner.predict_proba(x) for learner in committee])
        np.testing.assert_allclose(vote_entropy(cp), md.vote_entropy(committee, x), atol=1e-12)
        np.testing.assert_allclose(kl_to_consensus(cp, "max"), md.KL_max_disagreement(committee, x), atol=1e-10)
        np.testing.assert_allclose(consensus_entropy(cp), md.consensus_entropy(committee, x), atol=1e-12)
    inputs = StrategyInputs(committee_proba=cp)
    picks = make_strategy("vote-entropy").query(inputs, np.arange(300), np.array([], int), 5,
                                                rng=np.random.default_rng(0))
    ve = vote_entropy(cp)
    assert ve[picks].min() >= np.sort(ve)[-5]


@pytest.mark.parametrize("aggregate", ["mean", "max"])
def test_kl_strategy_ranks_by_its_measure(aggregate: str) -> None:
    cp = np.random.default_rng(3).dirichlet(np.ones(3), size=(4, 50))
    s = make_strategy("kl-to-consensus", aggregate=aggregate)
    picks = s.query(StrategyInputs(committee_proba=cp), np.arange(50), np.array([], int), 5,
                    rng=np.random.default_rng(0))
    np.testing.assert_array_equal(picks, np.argsort(-kl_to_consensus(cp, aggregate))[:5])
