"""Every built-in head passes scikit-learn's estimator contract checks."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from labelloop.models.heads import BootstrapCommittee, GraphLogRegHead, LogRegHead, MLPHead


@parametrize_with_checks(
    [
        LogRegHead(),
        MLPHead(hidden=32, epochs=30, batch_size=256, lr=5e-2),
        BootstrapCommittee(n_members=3),
        GraphLogRegHead(n_neighbors=3),
    ]
)
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)
