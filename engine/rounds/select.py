"""Selecting a round: the pool, the model outputs a strategy declares it needs, its picks, the round record.

The pool is every item outside the evaluation split. Items already labelled are the strategy's labelled set;
items already pushed to Label Studio (awaiting people) are neither picked again nor counted as labelled. The loop
never branches on the strategy's class: it fills exactly ``strategy.requires`` from the serving model and the
embedding cache. With no model yet, the config's cold-start strategy (embeddings only) is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.engine.config import ConfigError, ProjectConfig
from labelloop.engine.embedding import cache_for, embed_store_items, open_runner
from labelloop.engine.rounds.budget import budget_state, require_room
from labelloop.engine.store import Store
from labelloop.models.versions import TrainedModel, load_model

log = logging.getLogger(__name__)

MODEL_INPUTS = frozenset({"proba", "proba_samples", "committee_proba", "grad_embeddings"})


class NothingToSelect(RuntimeError):
    """Every pool item is labelled or already waiting in Label Studio."""


@dataclass
class RoundResult:
    round_id: int
    strategy: str
    params: dict[str, Any]
    seed: int
    model_version: str | None
    item_ids: list[int]
    pool_unlabelled: int
    pool_labelled: int
    embedded: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _strategy(name: str, params: dict[str, Any]) -> Any:
    from labelloop.strategies import StrategyConfigError, make_strategy

    try:
        return make_strategy(name, **params)
    except StrategyConfigError as err:
        raise ConfigError(f"rounds.strategy: {err}") from None


def _model_inputs(model: TrainedModel, X: np.ndarray, requires: frozenset[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if "proba" in requires:
        out["proba"] = model.predict_proba(X)
    if "proba_samples" in requires:
        if not hasattr(model.head, "predict_proba_samples"):
            raise ConfigError("this strategy needs MC-dropout passes: set model.head.name: mlp and retrain")
        out["proba_samples"] = np.asarray(model.head.predict_proba_samples(X, n_samples=20))
    if "committee_proba" in requires:
        if not hasattr(model.head, "predict_proba_members"):
            raise ConfigError("this strategy needs a committee: set model.head.name: committee and retrain")
        out["committee_proba"] = np.asarray(model.head.predict_proba_members(X))
    if "grad_embeddings" in requires:
        raise ConfigError("heads do not provide grad_embeddings yet; BADGE computes them from embeddings + proba")
    return out


def _gold_wanted(cfg: ProjectConfig, k: int) -> int:
    rate = cfg.quality.gold.rate
    return 0 if rate <= 0 or k == 0 else max(1, round(k * rate / (1 - rate)))


def _gold_for_round(
    store: Store,
    cfg: ProjectConfig,
    k: int,
    rng: np.random.Generator,
    *,
    gold_items: Iterable[int],
    max_gold: int | None = None,
) -> list[int]:
    """Gold items for a round of ``k`` picks so that they make ``quality.gold.rate`` of its tasks (at most
    ``max_gold`` under a budget cap); each gold item is shown once per project (never pushed twice)."""
    rate = cfg.quality.gold.rate
    if rate <= 0 or k == 0 or max_gold == 0:
        return []
    gold = sorted(gold_items)
    pushed = {t["item_id"] for t in store.pushed_tasks()}
    pending = {i for r in store.rounds() if r["state"] == "selected" for i in r["picked_item_ids"]["item_ids"]}
    candidates = np.array([i for i in gold if i not in pushed and i not in pending], dtype=np.int64)
    want = _gold_wanted(cfg, k) if max_gold is None else min(max_gold, _gold_wanted(cfg, k))
    if len(candidates) < want:
        log.warning("gold: %d gold items left unshown, %d wanted for this round", len(candidates), want)
    take = min(want, len(candidates))
    return sorted(int(i) for i in rng.choice(candidates, size=take, replace=False)) if take else []


def select_round(
    store: Store,
    cfg: ProjectConfig,
    workdir: Path,
    *,
    strategy: str | None = None,
    params: dict[str, Any] | None = None,
    k: int | None = None,
    seed: int | None = None,
) -> RoundResult:
    """Pick ``k`` (default ``rounds.batch_size``) items and record the round (state ``selected``)."""
    from labelloop.strategies import PoolExhaustedError, StrategyInputs

    rc = cfg.rounds
    serving = store.serving_model_version()
    name = strategy or (rc.strategy if serving else rc.cold_start_strategy)
    params = dict(rc.params if strategy is None and serving else {}) if params is None else params
    seed = rc.seed + len(store.rounds()) if seed is None else seed
    k = rc.batch_size if k is None else k
    strat = _strategy(name, params)
    notes: list[str] = []
    if serving is None and strategy is None:
        notes.append(f"no model yet: cold start with {name!r}")

    eval_split = cfg.model.eval_split
    pool = [
        it
        for it in store.items(columns=("id", "text", "uri", "content_hash", "split"))
        if eval_split is None or it["split"] != eval_split
    ]
    # Labels as training sees them (quality resolution under the current taxonomy); disputed items wait for their
    # reviewer and split items for their re-queue round, so neither is picked again.
    from labelloop.engine.quality.assess import resolve_store

    live, resolution = resolve_store(store, cfg)
    labels = resolution.label_map()
    pending = ({t["item_id"] for t in store.pushed_tasks()} | set(resolution.review)) - set(labels)
    unlabelled = np.array([i for i, it in enumerate(pool) if it["id"] not in labels and it["id"] not in pending])
    labelled = np.array([i for i, it in enumerate(pool) if it["id"] in labels], dtype=np.intp)
    if len(unlabelled) == 0:
        raise NothingToSelect(
            f"nothing to select: {len(labelled)} pool items labelled, {len(pending)} waiting in Label Studio"
        )
    if k > len(unlabelled):
        notes.append(f"asked for {k}, only {len(unlabelled)} unlabelled items left: taking all")
        k = len(unlabelled)
    cap = require_room(budget_state(store, cfg))  # raises BudgetExhausted when no task fits
    max_gold: int | None = None
    if cap is not None and k + _gold_wanted(cfg, k) > cap:
        max_gold = round(cap * cfg.quality.gold.rate)
        k = max(1, cap - max_gold) if cap > max_gold else cap
        max_gold = cap - k
        notes.append(f"budget: capped at {cap} tasks ({k} picks + up to {max_gold} gold)")

    requires = frozenset(strat.requires)
    if requires & MODEL_INPUTS and serving is None:
        raise ConfigError(
            f"rounds.strategy: {name!r} needs a model ({sorted(requires & MODEL_INPUTS)}) and there is none yet: "
            f"label a cold-start round first ({rc.cold_start_strategy!r}) or run `labelloop train`"
        )
    arrays: dict[str, Any] = {"pool_size": len(pool)}
    embedded = 0
    if requires - {"labels"}:
        spec = cfg.model.encoder
        with open_runner(cfg.model.compute) as runner:
            X, stats = embed_store_items(pool, spec=spec, cache=cache_for(workdir, spec), runner=runner)
        embedded = stats.embedded
        if "embeddings" in requires:
            arrays["embeddings"] = X
        if serving is not None and requires & MODEL_INPUTS:
            arrays.update(_model_inputs(load_model(Path(serving["artifact_path"])), X, requires))
    if "labels" in requires:
        classes = list(cfg.task.labels)
        lab = np.zeros(len(pool), dtype=np.int64)
        for i in labelled:
            lab[i] = classes.index(labels[pool[i]["id"]])
        arrays["labels"] = lab

    rng = np.random.default_rng(seed)
    try:
        picks = strat.query(StrategyInputs(**arrays), unlabelled, labelled, k, rng=rng)
    except PoolExhaustedError as err:
        raise NothingToSelect(str(err)) from err
    item_ids = [int(pool[int(i)]["id"]) for i in picks]
    gold_ids = _gold_for_round(store, cfg, len(item_ids), rng, gold_items=live.gold, max_gold=max_gold)
    if gold_ids:
        # Mixed in at random positions: annotators must not be able to tell gold from ordinary tasks.
        item_ids = [int(i) for i in rng.permutation(np.array(item_ids + gold_ids, dtype=np.int64))]
        notes.append(f"{len(gold_ids)} gold items mixed in")
    round_id = store.add_round(
        {
            "strategy": name,
            "params": strat.get_params(),
            "seed": int(seed),
            "model_version_id": serving["id"] if serving else None,
            "picked_item_ids": {"item_ids": item_ids, "gold_item_ids": gold_ids},
            "state": "selected",
        }
    )
    log.info("round selected round_id=%d strategy=%s k=%d seed=%d", round_id, name, len(item_ids), seed)
    return RoundResult(
        round_id=round_id,
        strategy=name,
        params=strat.get_params(),
        seed=int(seed),
        model_version=serving["id"] if serving else None,
        item_ids=item_ids,
        pool_unlabelled=len(unlabelled),
        pool_labelled=len(labelled),
        embedded=embedded,
        notes=notes,
    )
