"""Query by committee (``requires={"committee_proba"}``, (m, n, k): m members, n items, k classes).

* :func:`vote_entropy` (Settles eq. 3.1): entropy of the members' hard votes; coarse, needs m ≳ k to separate.
* :func:`kl_to_consensus` (McCallum & Nigam, 1998; Settles eq. 3.3): KL divergence of each member from the
  mean distribution, averaged over members (``aggregate="mean"``, the textbook measure, equal to the committee's
  mutual information) or its maximum (``aggregate="max"``, modAL's ``KL_max_disagreement``).
* :func:`consensus_entropy` (Settles eq. 3.2): entropy of the mean distribution.

Ours are vectorised over items; each is tested equal to modAL's function on a real modAL ``Committee`` (run
through :mod:`labelloop.strategies._modal_compat` on scikit-learn ≥ 1.8). modAL's take a fitted committee and
loop in Python per item, so they cannot score precomputed outputs without an adapter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import entr, rel_entr

from labelloop.strategies.base import ScoreStrategy, StrategyInputs, check_choice, register


def vote_entropy(committee_proba: NDArray[np.floating]) -> NDArray[np.float64]:
    """(n,) entropy (nats) of the hard-vote distribution; each member votes ``argmax`` (first on ties)."""
    p = np.asarray(committee_proba)
    m, n, k = p.shape
    votes = p.argmax(axis=2)  # (m, n)
    counts = np.zeros((n, k), dtype=np.float64)
    rows = np.arange(n)
    for j in range(m):
        counts[rows, votes[j]] += 1.0
    return entr(counts / m).sum(axis=1)


def kl_to_consensus(committee_proba: NDArray[np.floating], aggregate: str = "mean") -> NDArray[np.float64]:
    """(n,) KL(member ‖ mean of members) in nats, averaged (``"mean"``) or maximised (``"max"``) over members."""
    p = np.asarray(committee_proba, dtype=np.float64)
    consensus = p.mean(axis=0)
    kl = rel_entr(p, consensus[None, :, :]).sum(axis=2)  # (m, n)
    if aggregate == "mean":
        return kl.mean(axis=0)
    if aggregate == "max":
        return kl.max(axis=0)
    raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")


def consensus_entropy(committee_proba: NDArray[np.floating]) -> NDArray[np.float64]:
    """(n,) entropy (nats) of the members' mean distribution."""
    return entr(np.asarray(committee_proba, dtype=np.float64).mean(axis=0)).sum(axis=1)


@register("vote-entropy")
class VoteEntropy(ScoreStrategy):
    """Pick the items on whose label the committee's votes are most split."""

    required_inputs = frozenset({"committee_proba"})

    def __init__(self) -> None:
        pass

    def _score(self, inputs: StrategyInputs, indices: NDArray[np.intp]) -> NDArray[np.float64]:
        return vote_entropy(inputs.get("committee_proba")[:, indices, :])


@register("kl-to-consensus")
class KLToConsensus(ScoreStrategy):
    """Pick the items where members diverge most from the consensus distribution."""

    required_inputs = frozenset({"committee_proba"})

    def __init__(self, *, aggregate: str = "mean") -> None:
        self.aggregate = check_choice("kl-to-consensus", "aggregate", aggregate, ("mean", "max"))

    def _score(self, inputs: StrategyInputs, indices: NDArray[np.intp]) -> NDArray[np.float64]:
        return kl_to_consensus(inputs.get("committee_proba")[:, indices, :], self.aggregate)


@register("consensus-entropy")
class ConsensusEntropy(ScoreStrategy):
    """Pick the items whose averaged committee prediction is most uncertain."""

    required_inputs = frozenset({"committee_proba"})

    def __init__(self) -> None:
        pass

    def _score(self, inputs: StrategyInputs, indices: NDArray[np.intp]) -> NDArray[np.float64]:
        return consensus_entropy(inputs.get("committee_proba")[:, indices, :])
