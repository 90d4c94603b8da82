from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from labelloop.models.heads import (
    BootstrapCommittee,
    LogRegHead,
    MLPHead,
    UnknownHeadError,
    available_heads,
    make_head,
    register,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=300, n_features=16, n_informative=8, n_classes=3, random_state=0)
    return X.astype(np.float32), np.array(["a", "b", "c"])[y]


def test_registry() -> None:
    assert {"logreg", "mlp", "committee"} <= set(available_heads())
    assert isinstance(make_head("logreg", C=0.5), LogRegHead)
    with pytest.raises(
        UnknownHeadError, match=r"unknown head 'svm'; known heads: committee, graph-logreg, logreg, mlp"
    ):
        make_head("svm")
    with pytest.raises(ValueError, match="'logreg' is already registered to LogRegHead"):
        register("logreg")(MLPHead)


def test_mlp_mc_dropout_samples(data) -> None:
    X, y = data
    head = MLPHead(hidden=64, epochs=40, random_state=3).fit(X, y)
    samples = head.predict_proba_samples(X[:10], n_samples=7)
    assert samples.shape == (10, 3, 7)
    np.testing.assert_allclose(samples.sum(axis=1), 1.0)
    np.testing.assert_array_equal(samples, head.predict_proba_samples(X[:10], n_samples=7))  # seeded
    assert np.ptp(samples, axis=2).max() > 0  # dropout is on: passes differ
    again = MLPHead(hidden=64, epochs=40, random_state=3).fit(X, y)
    np.testing.assert_array_equal(head.predict_proba(X), again.predict_proba(X))
    assert (head.predict(X) == y).mean() > 0.8


def test_committee_members(data) -> None:
    X, y = data
    committee = make_head("committee", base="logreg", n_members=4, random_state=1).fit(X, y)
    assert isinstance(committee, BootstrapCommittee)
    members = committee.predict_proba_members(X[:5])
    assert members.shape == (4, 5, 3)
    np.testing.assert_allclose(committee.predict_proba(X[:5]), members.mean(axis=0))
    assert np.ptp(members, axis=0).max() > 0  # bootstrap members disagree somewhere
    mlp_committee = BootstrapCommittee(base="mlp", n_members=2, base_params={"hidden": 16, "epochs": 5}).fit(X, y)
    assert mlp_committee.predict_proba_members(X[:3]).shape == (2, 3, 3)
