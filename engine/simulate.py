"""Pool-based active-learning simulation with a dataset's true labels as the oracle.

When to use what:

* :func:`simulate` ``(X_pool, y_pool, X_test, y_test, *, strategy, ...)``: the pure, reusable core. Starts from a
  cold-start seed set (``"typiclust"`` or ``"random"``), then runs rounds of ``batch_size`` labels until
  ``budget``: each round refits the head on the labeled items, scores it on the test split, fills only the inputs
  the strategy ``requires`` from the head's outputs and the embeddings, and asks the strategy for the next batch.
  Repeated for every seed; returns a :class:`SimulationResult` (one learning curve per seed).
* :func:`full_pool_accuracy`: the same head trained on the whole pool; 95% of it is the usual target.
* :func:`labels_to_target`, :func:`accuracy_at`, :func:`area_under_curve`: curve summaries.
* :func:`run_simulation_from_config`: the thin, JSON-friendly entry point the ``labelloop simulate`` CLI calls:
  reads a CSV, embeds the texts through the embedding cache, splits pool/test, runs every strategy (``random``
  is always added) on the same seed sets, and returns a dict.

Which head a strategy gets (:func:`head_for`): ``proba_samples`` (BALD) needs MC-dropout passes, so an ``mlp``
head; ``committee_proba`` (vote entropy, KL to consensus, consensus entropy) needs a ``committee`` head; any other
strategy uses the head asked for (``logreg`` by default). Asking for an incompatible head raises.

Fairness: for one seed every strategy starts from the same seed set (the cold start depends only on the seed and
the embeddings), and every round's generator is derived from ``(seed, round)``, so the same seed gives the same
curve, and strategies differ only through what they pick.

Labels: ``y_pool`` / ``y_test`` may hold any hashable labels; they are mapped to class indices ``0..k-1`` over the
union of both arrays, and every probability array handed to a strategy has those ``k`` columns (a class the labeled
set has not seen yet gets probability 0), so ``labels`` and ``proba`` columns always agree. The ``labels`` input
holds the class index at labeled positions and ``-1`` elsewhere: a strategy never sees an unlabeled item's label.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone

from labelloop.models.heads import fit_head, make_head
from labelloop.strategies import Strategy, StrategyInputs, strategy_from_config

logger = logging.getLogger(__name__)

ColdStart = Literal["typiclust", "random"]

#: Heads whose outputs a requirement needs; requirements not listed here work with any head.
_HEAD_FOR_REQUIREMENT: Mapping[str, str] = {"proba_samples": "mlp", "committee_proba": "committee"}


class SimulationConfigError(ValueError):
    """A simulation parameter is invalid (message names the parameter, the value and what is allowed)."""


def _bad(param: str, value: object, allowed: str) -> SimulationConfigError:
    return SimulationConfigError(f"The '{param}' parameter of simulate must be {allowed}. Got {value!r} instead.")


# -------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SimulationResult:
    """Learning curves of one strategy (with one head) over several seeds.

    ``labels``: (c,) labeled-set size at each checkpoint (seed set, then after each round).
    ``accuracy``: (s, c) test accuracy per seed (rows in ``seeds`` order) and checkpoint.
    ``query_seconds`` / ``fit_seconds``: (s,) time spent in ``strategy.query`` / fitting and predicting, per seed.
    """

    strategy: dict[str, Any]
    head: str
    head_params: dict[str, Any]
    cold_start: str
    seeds: list[int]
    labels: NDArray[np.int64]
    accuracy: NDArray[np.float64]
    query_seconds: NDArray[np.float64]
    fit_seconds: NDArray[np.float64]
    classes: list[Any] = field(default_factory=list)

    @property
    def mean(self) -> NDArray[np.float64]:
        """(c,) mean accuracy over seeds."""
        return self.accuracy.mean(axis=0)

    @property
    def std(self) -> NDArray[np.float64]:
        """(c,) standard deviation over seeds (population, ddof=0)."""
        return self.accuracy.std(axis=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: lists and plain numbers only."""
        return {
            "strategy": self.strategy,
            "head": self.head,
            "head_params": self.head_params,
            "cold_start": self.cold_start,
            "seeds": list(self.seeds),
            "labels": [int(v) for v in self.labels],
            "accuracy": [[round(float(a), 5) for a in row] for row in self.accuracy],
            "mean": [round(float(a), 5) for a in self.mean],
            "std": [round(float(a), 5) for a in self.std],
            "query_seconds": [round(float(s), 3) for s in self.query_seconds],
            "fit_seconds": [round(float(s), 3) for s in self.fit_seconds],
        }


# -------------------------------------------------------------------------------------------------- summaries
def labels_to_target(labels: Sequence[int] | NDArray[np.integer], accuracy: Sequence[float] | NDArray[np.floating],
                     target: float) -> int | None:
    """First checkpoint's labeled-set size whose accuracy is ``>= target``; ``None`` if the curve never gets there.

    ``labels`` (c,) increasing, ``accuracy`` (c,) one curve. No interpolation: the answer is a labeled-set size
    that was actually evaluated (so it is a multiple of the round size past the seed set).
    """
    lab = np.asarray(labels)
    acc = np.asarray(accuracy, dtype=np.float64)
    if lab.shape != acc.shape or lab.ndim != 1:
        raise ValueError(f"labels and accuracy must be 1-D of the same length, got {lab.shape} and {acc.shape}")
    hit = np.flatnonzero(acc >= target)
    return int(lab[hit[0]]) if hit.size else None


def labels_to_target_over_seeds(result: SimulationResult, target: float) -> dict[str, Any]:
    """Per-seed :func:`labels_to_target` and their mean (``None`` unless every seed reached ``target``).

    Also the value read off the mean curve (``on_mean_curve``), which is less noisy but not what "mean of seeds"
    means; both are reported.
    """
    per_seed = [labels_to_target(result.labels, row, target) for row in result.accuracy]
    reached = [v for v in per_seed if v is not None]
    mean = float(np.mean(reached)) if reached and len(reached) == len(per_seed) else None
    return {
        "per_seed": per_seed,
        "mean": None if mean is None else round(mean, 1),
        "on_mean_curve": labels_to_target(result.labels, result.mean, target),
    }


def accuracy_at(labels: NDArray[np.integer], accuracy: NDArray[np.floating], n_labels: int) -> float | None:
    """Accuracy at ``n_labels`` labels: the checkpoint's value, linearly interpolated between the two checkpoints
    around it when ``n_labels`` was not evaluated; ``None`` outside ``[labels[0], labels[-1]]``."""
    lab = np.asarray(labels, dtype=np.float64)
    if n_labels < lab[0] or n_labels > lab[-1]:
        return None
    return float(np.interp(n_labels, lab, np.asarray(accuracy, dtype=np.float64)))


def area_under_curve(labels: NDArray[np.integer], accuracy: NDArray[np.floating],
                     up_to: int | None = None) -> float:
    """Normalised area under the learning curve: trapezoid area over ``[labels[0], up_to]`` divided by its width,
    i.e. the mean accuracy over that label range (1.0 = perfect from the start). ``up_to`` defaults to the last
    checkpoint; curves of different budgets compare only with the same ``up_to``."""
    lab = np.asarray(labels, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    stop = float(lab[-1] if up_to is None else up_to)
    if stop > lab[-1] or stop <= lab[0]:
        raise ValueError(f"up_to must be in ({lab[0]:.0f}, {lab[-1]:.0f}], got {up_to}")
    keep = lab < stop
    xs = np.append(lab[keep], stop)
    ys = np.append(acc[keep], np.interp(stop, lab, acc))
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0) / (stop - lab[0]))


# -------------------------------------------------------------------------------------------------- heads
def head_for(strategy: Strategy, head: str | None = None) -> str:
    """The head a strategy needs: ``mlp`` for ``proba_samples``, ``committee`` for ``committee_proba``, else
    ``head`` (default ``logreg``). Raises :class:`SimulationConfigError` if ``head`` cannot provide an input."""
    needed = {_HEAD_FOR_REQUIREMENT[r] for r in strategy.requires if r in _HEAD_FOR_REQUIREMENT}
    if len(needed) > 1:
        raise SimulationConfigError(f"strategy '{strategy.name}' needs outputs of several heads: {sorted(needed)}")
    if needed:
        (need,) = needed
        if head is not None and head != need:
            raise _bad("head", head, f"'{need}' for strategy '{strategy.name}' (requires {sorted(strategy.requires)})")
        return need
    return head or "logreg"


def full_pool_accuracy(X_pool: NDArray[np.floating], y_pool: NDArray[Any], X_test: NDArray[np.floating],
                       y_test: NDArray[Any], *, head: str = "logreg",
                       head_params: Mapping[str, Any] | None = None) -> float:
    """Test accuracy of ``head`` trained on every pool item: the reference the learning curves aim at."""
    model = make_head(head, **dict(head_params or {})).fit(X_pool, y_pool)
    return float(np.mean(model.predict(X_test) == np.asarray(y_test)))


def _expand(proba: NDArray[np.floating], head_classes: NDArray[np.integer], k: int, axis: int) -> NDArray[np.float64]:
    """Put the head's columns (classes it has seen, indices into 0..k-1) at their place among ``k`` classes."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[axis] == k and np.array_equal(head_classes, np.arange(k)):
        return proba
    shape = list(proba.shape)
    shape[axis] = k
    out = np.zeros(shape, dtype=np.float64)
    index: list[Any] = [slice(None)] * proba.ndim
    index[axis] = np.asarray(head_classes, dtype=np.intp)
    out[tuple(index)] = proba
    return out


# -------------------------------------------------------------------------------------------------- core
def cold_start_indices(X_pool: NDArray[np.floating], seed_size: int, seed: int,
                       cold_start: ColdStart = "typiclust") -> NDArray[np.intp]:
    """(seed_size,) pool positions of the first labels, from the embeddings only (no model, no labels).

    Depends only on ``(X_pool, seed_size, seed, cold_start)``: every strategy of one seed starts from the same set.
    """
    rng = np.random.default_rng([int(seed), 0])
    n = X_pool.shape[0]
    if cold_start == "random":
        return np.sort(rng.choice(n, size=seed_size, replace=False)).astype(np.intp)
    if cold_start == "typiclust":
        picker = strategy_from_config({"name": "typiclust"})
        inputs = StrategyInputs(embeddings=np.ascontiguousarray(X_pool, dtype=np.float32))
        return picker.query(inputs, np.arange(n), np.empty(0, dtype=np.intp), seed_size, rng=rng)
    raise _bad("cold_start", cold_start, "one of ['typiclust', 'random']")


def _fill_inputs(strategy: Strategy, model: Any, X_pool: NDArray[np.floating], y_idx: NDArray[np.intp],
                 labeled_mask: NDArray[np.bool_], k: int, mc_samples: int, seed: int) -> StrategyInputs:
    """The inputs ``strategy.requires``, from the fitted head's outputs on the whole pool (n items)."""
    req = strategy.requires
    kwargs: dict[str, Any] = {}
    classes = np.asarray(model.classes_, dtype=np.intp)
    if "proba" in req:
        kwargs["proba"] = _expand(model.predict_proba(X_pool), classes, k, axis=1)
    if "proba_samples" in req:
        kwargs["proba_samples"] = _expand(model.predict_proba_samples(X_pool, mc_samples, random_state=seed),
                                          classes, k, axis=1)
    if "committee_proba" in req:
        kwargs["committee_proba"] = _expand(model.predict_proba_members(X_pool), classes, k, axis=2)
    if "embeddings" in req:
        kwargs["embeddings"] = X_pool
    if "labels" in req:
        kwargs["labels"] = np.where(labeled_mask, y_idx, -1).astype(np.int64)
    unknown = sorted(req - {"proba", "proba_samples", "committee_proba", "embeddings", "labels"})
    if unknown:
        raise SimulationConfigError(f"strategy '{strategy.name}' requires {unknown}, which simulate cannot provide")
    return StrategyInputs(**kwargs, pool_size=int(X_pool.shape[0]))


def _check_arrays(X_pool: NDArray[Any], y_pool: NDArray[Any], X_test: NDArray[Any],
                  y_test: NDArray[Any]) -> None:
    if X_pool.ndim != 2 or X_test.ndim != 2 or X_pool.shape[1] != X_test.shape[1]:
        raise SimulationConfigError(f"X_pool and X_test must be (n, d) with the same d, got {X_pool.shape} and "
                                    f"{X_test.shape}")
    if y_pool.shape != (X_pool.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise SimulationConfigError(f"y_pool/y_test must be (n,) matching X, got {y_pool.shape} and {y_test.shape}")


def checkpoints(seed_size: int, batch_size: int, budget: int) -> NDArray[np.int64]:
    """(c,) labeled-set sizes evaluated: ``seed_size``, then ``+batch_size`` per round, the last round cut to end
    exactly at ``budget``."""
    sizes = [*range(seed_size, budget, batch_size), budget]
    return np.asarray(sorted(set(sizes)), dtype=np.int64)


def simulate(
    X_pool: NDArray[np.floating],
    y_pool: NDArray[Any],
    X_test: NDArray[np.floating],
    y_test: NDArray[Any],
    *,
    strategy: str | Mapping[str, Any] | Strategy,
    params: Mapping[str, Any] | None = None,
    head: str | None = None,
    head_params: Mapping[str, Any] | None = None,
    seed_size: int = 50,
    batch_size: int = 50,
    budget: int = 1000,
    seeds: Sequence[int] = (0, 1, 2),
    cold_start: ColdStart = "typiclust",
    mc_samples: int = 20,
    seed_sets: Mapping[int, NDArray[np.integer]] | None = None,
) -> SimulationResult:
    """Run one strategy for every seed and return its learning curves.

    Args:
        X_pool: (n, d) embeddings of the items that may be labeled; ``y_pool`` (n,) their true labels (the oracle).
        X_test: (m, d) embeddings of the evaluation items; ``y_test`` (m,) their labels. Never used for selection.
        strategy: a registered name (with ``params``), a ``{"name", "params"}`` config, or a :class:`Strategy`.
        head / head_params: the head refitted each round (see :func:`head_for`). ``random_state`` is set to the
            seed when the head takes one (MLP, committee), so seeds differ in model noise too.
        seed_size: cold-start labels; batch_size: labels per round; budget: total labels (``seed_size <= budget
            <= n``).
        seeds: one learning curve per seed.
        cold_start: ``"typiclust"`` (embeddings only) or ``"random"``.
        mc_samples: MC-dropout passes for ``proba_samples``.
        seed_sets: optional precomputed ``{seed: (seed_size,) pool positions}`` (from :func:`cold_start_indices`),
            so a benchmark running many strategies computes each cold start once.

    Returns:
        :class:`SimulationResult` with ``accuracy`` (len(seeds), len(checkpoints)).
    """
    X_pool = np.ascontiguousarray(X_pool, dtype=np.float32)
    X_test = np.ascontiguousarray(X_test, dtype=np.float32)
    y_pool = np.asarray(y_pool)
    y_test = np.asarray(y_test)
    _check_arrays(X_pool, y_pool, X_test, y_test)
    n = X_pool.shape[0]
    for name, value in (("seed_size", seed_size), ("batch_size", batch_size), ("budget", budget)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise _bad(name, value, "an int >= 1")
    if not seed_size <= budget <= n:
        raise _bad("budget", budget, f"between seed_size={seed_size} and the pool size {n}")
    if not seeds:
        raise _bad("seeds", seeds, "a non-empty sequence of ints")
    if cold_start not in ("typiclust", "random"):
        raise _bad("cold_start", cold_start, "one of ['typiclust', 'random']")

    config: Mapping[str, Any] | Strategy
    if isinstance(strategy, str):
        config = {"name": strategy, "params": dict(params or {})}
    else:
        if params:
            raise _bad("params", params, "empty when 'strategy' is a config or a Strategy (put params inside it)")
        config = strategy
    strat = strategy_from_config(config)
    head_name = head_for(strat, head)
    classes, y_all = np.unique(np.concatenate([y_pool, y_test]), return_inverse=True)
    y_idx = y_all[:n].astype(np.intp)
    y_test_idx = y_all[n:].astype(np.intp)
    k = int(classes.size)
    base_params = dict(head_params or {})
    base_head = make_head(head_name, **base_params)
    takes_seed = "random_state" in base_head.get_params()
    sizes = checkpoints(seed_size, batch_size, budget)

    acc = np.empty((len(seeds), sizes.size), dtype=np.float64)
    q_secs = np.zeros(len(seeds))
    f_secs = np.zeros(len(seeds))
    for s_i, seed in enumerate(seeds):
        seed = int(seed)
        if seed_sets is not None and seed in seed_sets:
            start = np.asarray(seed_sets[seed], dtype=np.intp)
            if start.shape != (seed_size,):
                raise _bad("seed_sets", f"seed {seed}: shape {start.shape}", f"arrays of shape ({seed_size},)")
        else:
            start = cold_start_indices(X_pool, seed_size, seed, cold_start)
        labeled = np.zeros(n, dtype=bool)
        labeled[start] = True
        for c_i, size in enumerate(sizes):
            if int(labeled.sum()) != size:  # a strategy returned the wrong number: never silently go on
                raise RuntimeError(f"labeled set has {int(labeled.sum())} items at checkpoint {size}")
            lab_idx = np.flatnonzero(labeled)
            if np.unique(y_idx[lab_idx]).size < 2:
                raise SimulationConfigError(
                    f"seed {seed}: the {size} labeled items hold one class only; use a larger seed_size")
            t0 = time.perf_counter()
            model = clone(base_head)
            if takes_seed:
                model.set_params(random_state=seed)
            fit_head(model, X_pool[lab_idx], y_idx[lab_idx], X_unlabeled=X_pool[~labeled])
            acc[s_i, c_i] = float(np.mean(model.predict(X_test) == y_test_idx))
            f_secs[s_i] += time.perf_counter() - t0
            if c_i == sizes.size - 1:
                break
            n_next = int(sizes[c_i + 1] - size)
            t0 = time.perf_counter()
            inputs = _fill_inputs(strat, model, X_pool, y_idx, labeled, k, mc_samples, seed)
            f_secs[s_i] += time.perf_counter() - t0
            t0 = time.perf_counter()
            picks = strat.query(inputs, np.flatnonzero(~labeled), lab_idx, n_next,
                                rng=np.random.default_rng([seed, 1, c_i]))
            q_secs[s_i] += time.perf_counter() - t0
            labeled[picks] = True
        logger.info("simulate strategy=%s head=%s seed=%d final_labels=%d final_accuracy=%.4f query_s=%.2f fit_s=%.2f",
                    strat.name, head_name, seed, int(sizes[-1]), acc[s_i, -1], q_secs[s_i], f_secs[s_i])
    return SimulationResult(
        strategy=strat.to_config(), head=head_name, head_params=base_params, cold_start=cold_start,
        seeds=[int(s) for s in seeds], labels=sizes, accuracy=acc, query_seconds=q_secs, fit_seconds=f_secs,
        classes=[c.item() if hasattr(c, "item") else c for c in classes],
    )


# -------------------------------------------------------------------------------------------------- summary
REPORT_AT: tuple[int, ...] = (100, 250, 500, 1000)


def summarise(result: SimulationResult, target: float, *, report_at: Sequence[int] = REPORT_AT,
              auc_up_to: int | None = None) -> dict[str, Any]:
    """Per-strategy numbers of the report: accuracy (mean, std over seeds) at ``report_at`` labels, normalised
    area under the mean curve up to ``auc_up_to`` (default the last checkpoint), labels to ``target``."""
    at: dict[str, Any] = {}
    for n_lab in report_at:
        vals = [accuracy_at(result.labels, row, n_lab) for row in result.accuracy]
        at[str(n_lab)] = None if any(v is None for v in vals) else {
            "mean": round(float(np.mean(vals)), 4), "std": round(float(np.std(vals)), 4)}
    aucs = [area_under_curve(result.labels, row, auc_up_to) for row in result.accuracy]
    return {
        "head": result.head,
        "accuracy_at": at,
        "aulc": {"mean": round(float(np.mean(aucs)), 4), "std": round(float(np.std(aucs)), 4),
                 "from": int(result.labels[0]), "to": int(auc_up_to or result.labels[-1])},
        "labels_to_target": labels_to_target_over_seeds(result, target),
        "query_seconds_per_seed": round(float(result.query_seconds.mean()), 2),
    }


# -------------------------------------------------------------------------------------------------- CLI entry
def _strategy_entries(strategies: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Normalise ``["margin", {"name": "badge", "params": {...}, "head": ..., "head_params": ..., "label": ...}]``
    into dicts with a unique ``label``; ``random`` is added when missing (it is the baseline of every report)."""
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(strategies):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise _bad(f"strategies[{i}]", entry, "a strategy name or a mapping with 'name'")
        extra = sorted(set(entry) - {"name", "params", "head", "head_params", "label"})
        if extra:
            raise _bad(f"strategies[{i}]", entry, "a mapping with keys name, params, head, head_params, label")
        # Build once here so an unknown name or bad parameter fails before any embedding work.
        strategy_from_config({"name": entry["name"], "params": dict(entry.get("params") or {})},
                             key_path=f"strategies[{i}]")
        out.append({"name": str(entry["name"]), "params": dict(entry.get("params") or {}),
                    "head": entry.get("head"), "head_params": entry.get("head_params"),
                    "label": str(entry.get("label") or entry["name"])})
    if not any(e["label"] == "random" for e in out):
        out.insert(0, {"name": "random", "params": {}, "head": None, "head_params": None, "label": "random"})
    labels = [e["label"] for e in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise _bad("strategies", dup, "entries with unique labels (give duplicates a 'label')")
    return out


def run_simulation_from_config(
    dataset_csv: str | Path,
    text_field: str,
    label_field: str,
    split_field: str | None,
    strategies: Sequence[str | Mapping[str, Any]],
    *,
    train_value: str = "train",
    test_value: str = "test",
    test_fraction: float = 0.2,
    split_seed: int = 0,
    head: str = "logreg",
    head_params: Mapping[str, Any] | None = None,
    seed_size: int = 50,
    batch_size: int = 50,
    budget: int = 1000,
    seeds: int | Sequence[int] = 3,
    cold_start: ColdStart = "typiclust",
    target_fraction: float = 0.95,
    cache_root: str | Path = ".labelloop/bench-cache",
    encoder_spec: Any = None,
) -> dict[str, Any]:
    """Simulate every strategy on one labeled CSV; JSON-friendly result for the ``labelloop simulate`` command.

    Pool/test: rows whose ``split_field`` is ``train_value`` / ``test_value``; with ``split_field=None`` a seeded
    (``split_seed``) stratified split puts ``test_fraction`` of the rows in the test split. Texts are embedded with
    ``encoder_spec`` (default all-MiniLM-L6-v2) through an :class:`EmbeddingCache` under ``cache_root`` keyed by the
    SHA-256 of the text, so a re-run does not re-embed. Each entry of ``strategies`` is a name or
    ``{"name", "params", "head", "head_params", "label"}``; ``random`` is always run. Target = ``target_fraction`` ×
    accuracy of ``head`` trained on the whole pool.

    Returns ``{"dataset", "pool_size", "test_size", "classes", "split", "full_accuracy", "target",
    "labels_to_target": {label: mean labels or None}, "summary": {label: ...}, "curves": {label: ...}}``.
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    entries = _strategy_entries(strategies)
    df = pd.read_csv(dataset_csv, keep_default_na=False)
    for key, col in (("text_field", text_field), ("label_field", label_field), ("split_field", split_field)):
        if col is not None and col not in df.columns:
            raise _bad(key, col, f"a column of {Path(dataset_csv).name}: {list(df.columns)}")
    if split_field is not None:
        pool_df = df[df[split_field].astype(str) == train_value]
        test_df = df[df[split_field].astype(str) == test_value]
        split = f"column {split_field!r}: {train_value!r} = pool, {test_value!r} = test"
        if pool_df.empty or test_df.empty:
            raise _bad("split_field", split_field, f"a column with both {train_value!r} and {test_value!r} rows")
    else:
        pool_df, test_df = train_test_split(df, test_size=test_fraction, random_state=split_seed,
                                            stratify=df[label_field])
        split = f"seeded ({split_seed}) stratified split, {test_fraction:.0%} test"
    X_pool = embed_texts(pool_df[text_field].astype(str).tolist(), cache_root=cache_root, encoder_spec=encoder_spec)
    X_test = embed_texts(test_df[text_field].astype(str).tolist(), cache_root=cache_root, encoder_spec=encoder_spec)
    y_pool = pool_df[label_field].astype(str).to_numpy()
    y_test = test_df[label_field].astype(str).to_numpy()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    full = full_pool_accuracy(X_pool, y_pool, X_test, y_test, head=head, head_params=head_params)
    target = target_fraction * full
    seed_sets = {s: cold_start_indices(X_pool, seed_size, s, cold_start) for s in seed_list}
    out: dict[str, Any] = {
        "dataset": str(dataset_csv), "pool_size": len(pool_df), "test_size": len(test_df),
        "classes": sorted(set(y_pool) | set(y_test)), "split": split, "head": head,
        "head_params": dict(head_params or {}), "full_accuracy": round(full, 4),
        "target_fraction": target_fraction, "target": round(target, 4), "seed_size": seed_size,
        "batch_size": batch_size, "budget": budget, "seeds": seed_list, "cold_start": cold_start,
        "labels_to_target": {}, "summary": {}, "curves": {},
    }
    for entry in entries:
        entry_head, entry_head_params = _entry_head(entry, head, head_params)
        res = simulate(X_pool, y_pool, X_test, y_test, strategy=entry["name"], params=entry["params"],
                       head=entry_head, head_params=entry_head_params, seed_size=seed_size,
                       batch_size=batch_size, budget=budget, seeds=seed_list, cold_start=cold_start,
                       seed_sets=seed_sets)
        summary = summarise(res, target)
        out["summary"][entry["label"]] = summary
        out["labels_to_target"][entry["label"]] = summary["labels_to_target"]["mean"]
        out["curves"][entry["label"]] = res.to_dict()
    return out


def _entry_head(entry: Mapping[str, Any], head: str,
                head_params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """Head (and params) of one strategy entry: its own ``head`` if given; else the head its inputs need (mlp,
    committee) with the entry's ``head_params``; else the run-wide ``head`` and ``head_params``."""
    if entry["head"]:
        return str(entry["head"]), dict(entry["head_params"] or {})
    needed = head_for(strategy_from_config({"name": entry["name"], "params": entry["params"]}), None)
    if needed in _HEAD_FOR_REQUIREMENT.values() and needed != head:
        return needed, dict(entry["head_params"] or {})
    return head, dict(entry["head_params"] or head_params or {})


def text_hash(text: str) -> str:
    """Content hash of an embedded text: SHA-256 of its UTF-8 bytes (the embedding cache key)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_texts(texts: Sequence[str], *, cache_root: str | Path, encoder_spec: Any = None,
                runner: Any = None) -> NDArray[np.float32]:
    """(len(texts), d) embeddings through the cache under ``cache_root`` (computed in-process on a miss)."""
    from labelloop.models.compute import InProcessRunner, embed_items
    from labelloop.models.embedding_cache import EmbeddingCache
    from labelloop.models.encoders import EncoderSpec, encoder_fingerprint

    spec = encoder_spec or EncoderSpec()
    cache = EmbeddingCache(Path(cache_root), encoder_fingerprint(spec))
    vectors, stats = embed_items([text_hash(t) for t in texts], list(texts), encoder_spec=spec, cache=cache,
                                 runner=runner or InProcessRunner())
    logger.info("embed_texts n=%d embedded=%d hits=%d", len(texts), stats.embedded, stats.hits)
    return vectors


__all__ = [
    "REPORT_AT",
    "SimulationConfigError",
    "SimulationResult",
    "accuracy_at",
    "area_under_curve",
    "checkpoints",
    "cold_start_indices",
    "embed_texts",
    "full_pool_accuracy",
    "head_for",
    "labels_to_target",
    "labels_to_target_over_seeds",
    "run_simulation_from_config",
    "simulate",
    "summarise",
]
