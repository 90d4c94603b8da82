"""Auto-labeling under a precision target: the serving model labels the pool items it is confident about, and a
random audit sample of those goes to people.

Thresholds are chosen per predicted class on human-labelled held-out items (the evaluation split, never trained
on), so that the Clopper-Pearson lower bound of precision above the threshold meets ``quality.autolabel.target``
(:mod:`labelloop.engine.quality.autolabel`). Auto-labels are label events with ``source=model``, the model version
and the confidence; people's labels outrank them, so an audit answer corrects an auto-label instead of being lost.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.engine.config import ConfigError, ProjectConfig
from labelloop.engine.embedding import cache_for, embed_store_items, open_runner
from labelloop.engine.quality.assess import resolve_store
from labelloop.engine.store import Store
from labelloop.models.versions import load_model

log = logging.getLogger(__name__)


@dataclass
class AutoLabelResult:
    model_version: str
    target: float
    alpha: float
    mode: str
    calibration_items: int
    thresholds: dict[str, dict[str, Any]]
    candidates: int
    auto_labelled: int
    audit_round_id: int | None
    audit_items: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def auto_label(store: Store, cfg: ProjectConfig, workdir: Path, *, seed: int = 0) -> AutoLabelResult:
    """Auto-label confident pool items with the serving model and record an audit round (state ``selected``; push
    it like any round)."""
    from labelloop.engine.quality.autolabel import (
        apply_thresholds,
        audit_sample,
        choose_threshold,
        choose_thresholds_per_class,
        sequence_starts,
    )

    serving = store.serving_model_version()
    if serving is None:
        raise ConfigError("auto-labeling needs a serving model: run `labelloop train` first")
    al = cfg.quality.autolabel
    classes = list(cfg.task.labels)
    eval_split = cfg.model.eval_split
    if eval_split is None:
        raise ConfigError("model.eval_split: auto-labeling calibrates on the evaluation split; none is configured")
    notes: list[str] = []
    _, resolution = resolve_store(store, cfg)
    labels = resolution.label_map()
    items = store.items(columns=("id", "text", "uri", "content_hash", "split"))
    calib = [it for it in items if it["split"] == eval_split and it["id"] in labels]
    pending = {t["item_id"] for t in store.pushed_tasks()}
    pool = [
        it
        for it in items
        if it["split"] != eval_split
        and it["id"] not in labels
        and it["id"] not in pending
        and it["id"] not in resolution.review
    ]
    model = load_model(Path(serving["artifact_path"]))
    spec = cfg.model.encoder
    with open_runner(cfg.model.compute) as runner:
        X_cal, _ = embed_store_items(calib, spec=spec, cache=cache_for(workdir, spec), runner=runner)
        X_pool, _ = embed_store_items(pool, spec=spec, cache=cache_for(workdir, spec), runner=runner)
    y_cal = np.array([classes.index(labels[it["id"]]) for it in calib], dtype=np.int64)
    p_cal = model.predict_proba(X_cal) if len(calib) else np.zeros((0, len(classes)))
    probs = model.predict_proba(X_pool) if len(pool) else np.zeros((0, len(classes)))
    mode = al.mode
    if mode == "auto":
        need = sequence_starts(al.target, al.alpha / len(classes), min_support=al.min_support)[0]
        support = np.bincount(p_cal.argmax(axis=1), minlength=len(classes)) if len(calib) else np.zeros(len(classes))
        mode = "per_class" if support.min() >= need else "global"
        if mode == "global":
            notes.append(
                f"too few calibration items per predicted class (min {int(support.min())} < {need}): one threshold"
            )
    if mode == "per_class":
        thresholds = choose_thresholds_per_class(
            p_cal,
            y_cal,
            target=al.target,
            alpha=al.alpha,
            min_support=al.min_support,
            class_names=classes,
            pool_probs=probs,
        )
    else:
        one = choose_threshold(
            p_cal.max(axis=1),
            p_cal.argmax(axis=1) == y_cal,
            target=al.target,
            alpha=al.alpha,
            min_support=al.min_support,
            per_class="all",
            pool_confidence=probs.max(axis=1) if len(pool) else np.zeros(0),
        )
        thresholds = dict.fromkeys(range(len(classes)), one)
    if not any(t.threshold is not None for t in thresholds.values()):
        notes.append("no class reaches the precision target on the calibration items: nothing auto-labelled")
    mask = apply_thresholds(probs, thresholds) if len(pool) else np.zeros(0, dtype=bool)
    chosen = np.flatnonzero(mask)
    version = serving["id"]
    events = []
    for row in chosen:
        k = int(probs[row].argmax())
        t = thresholds[k]
        events.append(
            {
                "item_id": int(pool[row]["id"]),
                "label": classes[k],
                "source": "model",
                "annotator": None,
                "tool": "labelloop-autolabel",
                "external_id": f"auto:{version}:{pool[row]['id']}",
                "model_version_id": version,
                "confidence": float(probs[row, k]),
                "extra": {
                    "threshold": t.threshold,
                    "target": al.target,
                    "alpha": al.alpha,
                    "calibration_lower_bound": t.lower_bound,
                    "guarantee": t.guarantee,
                },
            }
        )
    done = store.existing_external_ids("model", [e["external_id"] for e in events])
    done_ext = {ext for _, ext in done}
    events = [e for e in events if e["external_id"] not in done_ext]
    store.append_label_events(events)

    rng = np.random.default_rng(seed)
    audit_ids = [
        int(i)
        for i in audit_sample(np.array([e["item_id"] for e in events], dtype=np.int64), rate=al.audit_rate, rng=rng)
    ]
    audit_round = None
    if audit_ids:
        audit_round = store.add_round(
            {
                "strategy": "audit",
                "params": {"auto_label_model_version": version, "audit_rate": al.audit_rate},
                "seed": seed,
                "model_version_id": version,
                "picked_item_ids": {"item_ids": audit_ids, "gold_item_ids": []},
                "state": "selected",
            }
        )
    log.info("auto-label version=%s auto_labelled=%d audit=%d", version, len(events), len(audit_ids))
    return AutoLabelResult(
        model_version=version,
        target=al.target,
        alpha=al.alpha,
        mode=mode,
        calibration_items=len(calib),
        thresholds={
            classes[k]: {
                "threshold": t.threshold,
                "precision": t.precision,
                "lower_bound": t.lower_bound,
                "guarantee": t.guarantee,
                "support": t.n_calibration_above,
                "pool_above": t.n_pool_above,
            }
            for k, t in thresholds.items()
        },
        candidates=len(pool),
        auto_labelled=len(events),
        audit_round_id=audit_round,
        audit_items=audit_ids,
        notes=notes,
    )
