"""One assessment of a project's labels: resolution, gold accuracy, agreement, suspected label errors, auto-label
audit, and the gates on top. ``labelloop quality`` prints it; training and export refuse to run when a gate fails.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.engine.config import ProjectConfig
from labelloop.engine.quality import agreement as agr
from labelloop.engine.quality.gates import GateResult, QualityMeasures, evaluate_gates
from labelloop.engine.quality.gold import GoldAccuracy, gold_accuracy
from labelloop.engine.quality.resolution import Resolution, resolve
from labelloop.engine.quality.votes import LiveLabels, live_labels
from labelloop.engine.store import Store
from labelloop.engine.store.repository import as_utc

log = logging.getLogger(__name__)


@dataclass
class LabelErrorCheck:
    """Suspected label errors among the training labels (cleanlab on out-of-fold probabilities)."""

    checked: int
    rate: float | None
    suspects: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


@dataclass
class QualityReport:
    resolution: Resolution
    live: LiveLabels
    gold: GoldAccuracy
    agreement: dict[str, Any]
    label_errors: LabelErrorCheck | None
    autolabel_audit: dict[str, Any]
    gates: list[GateResult]

    def as_dict(self) -> dict[str, Any]:
        rules = Counter(r.rule for r in self.resolution.labels.values())
        return {
            "resolution": {
                "method": self.resolution.method,
                "resolved": len(self.resolution.labels),
                "by_rule": dict(sorted(rules.items())),
                "review_queue": [
                    {"item_id": c.item_id, "votes": c.votes, "reason": c.reason, "suggested": c.suggested}
                    for c in self.resolution.review.values()
                ],
                "annotator_quality": self.resolution.annotator_quality,
                "notes": self.resolution.notes,
            },
            "gold": self.gold.as_dict(),
            "agreement": self.agreement,
            "label_errors": None
            if self.label_errors is None
            else {
                "checked": self.label_errors.checked,
                "rate": self.label_errors.rate,
                "suspects": self.label_errors.suspects,
                "note": self.label_errors.note,
            },
            "autolabel_audit": self.autolabel_audit,
            "gates": [g.as_dict() for g in self.gates],
            "blocked": any(g.status == "fail" for g in self.gates),
        }


def agreement_summary(live: LiveLabels, classes: Sequence[str]) -> dict[str, Any]:
    """Agreement on items with ≥ 2 human annotators: project-wide, per class and per annotator pair."""
    items = live.overlapped()
    ratings = live.ratings(items)
    out: dict[str, Any] = {"overlap_items": len(items), "annotators": live.annotators()}
    if not items:
        return out
    out["percent"] = agr.percent_agreement(ratings).value
    out["krippendorff_alpha_nominal"] = agr.krippendorff_alpha(ratings, categories=list(classes)).value
    fleiss = agr.fleiss_kappa(ratings, categories=list(classes))
    out["fleiss_kappa"] = fleiss.value
    out["fleiss_items"] = fleiss.items_used
    out["per_class"] = agr.specific_agreement(ratings, list(classes))
    pairs = {}
    for a, b in combinations(live.annotators(), 2):
        try:
            k = agr.cohen_kappa(ratings, a, b)
        except ValueError:
            continue  # no item in common
        common = [i for i in items if a in live.human[i] and b in live.human[i]]
        same = sum(live.human[i][a].label == live.human[i][b].label for i in common)
        pairs[f"{a} | {b}"] = {"items": k.items_used, "cohen_kappa": k.value, "percent": same / len(common)}
    out["pairs"] = pairs
    return out


def autolabel_audit(live: LiveLabels) -> dict[str, Any]:
    """Auto-labels a human also labelled (the audit sample): how often the human agreed."""
    audited = [i for i in live.model if i in live.human]
    agree = 0
    for i in audited:
        labels = Counter(v.label for v in live.human[i].values())
        agree += int(labels.most_common(1)[0][0] == live.model[i][0])
    return {
        "auto_labels": len(live.model),
        "audited": len(audited),
        "audit_precision": agree / len(audited) if audited else None,
    }


def check_label_errors(
    X: np.ndarray,
    labels: Sequence[str],
    item_ids: Sequence[int],
    classes: Sequence[str],
    *,
    min_labels: int,
    seed: int = 0,
    max_suspects: int = 200,
) -> LabelErrorCheck:
    """Flag likely label errors with cleanlab on 5-fold out-of-fold probabilities of a logistic regression on the
    embeddings. Classes with fewer than 5 labels are left out of the check (cross-validation needs them)."""
    counts = Counter(labels)
    keep_classes = [c for c in classes if counts.get(c, 0) >= 5]
    mask = np.array([lab in keep_classes for lab in labels], dtype=bool)
    n = int(mask.sum())
    if n < min_labels or len(keep_classes) < 2:
        return LabelErrorCheck(n, None, note=f"{n} labels in classes with ≥5 labels; {min_labels} needed")
    from sklearn.linear_model import LogisticRegression

    from labelloop.engine.quality.label_errors import find_suspects, out_of_fold_probs

    index = {c: k for k, c in enumerate(keep_classes)}
    y = np.array([index[lab] for lab, m in zip(labels, mask, strict=True) if m])
    ids = [i for i, m in zip(item_ids, mask, strict=True) if m]
    probs = out_of_fold_probs(
        X[mask], y, make_head=lambda: LogisticRegression(C=5.0, max_iter=1000), n_splits=5, seed=seed
    )
    suspects = find_suspects(y, probs)
    rows = [
        {
            "item_id": int(ids[s.index]),
            "given": keep_classes[s.given],
            "suggested": keep_classes[s.suggested],
            "self_confidence": float(s.self_confidence),
            "suggested_prob": float(s.suggested_prob),
        }
        for s in suspects[:max_suspects]
    ]
    return LabelErrorCheck(n, len(suspects) / n, rows)


def _serving_probs(store: Store, classes: Sequence[str]) -> dict[int, np.ndarray] | None:
    serving = store.serving_model_version()
    if serving is None:
        return None
    return {
        int(p["item_id"]): np.frombuffer(p["probabilities"], dtype="<f4").astype(float)
        for p in store.predictions(serving["id"])
    }


def resolve_store(store: Store, cfg: ProjectConfig, *, as_of: datetime | None = None) -> tuple[LiveLabels, Resolution]:
    """The live labels of the store and their resolution under the project's adjudication settings, read under
    the current taxonomy (old label names mapped, split items left for relabeling). ``as_of``: the labels and
    taxonomy as they were then (events and versions recorded later are ignored), e.g. to rebuild a dataset
    version."""
    from labelloop.engine.taxonomy.history import TaxonomyHistory

    history = TaxonomyHistory.load(store, as_of=as_of)
    events = store.label_events()
    classes = list(cfg.task.labels)
    if as_of is None:
        history.check_config(cfg)
    else:
        cutoff = as_utc(as_of)
        events = [e for e in events if as_utc(e["recorded_at"]) <= cutoff]
        if history.current is not None:
            classes = history.current.schema.names
    live = live_labels(events, taxonomy=history)
    adj = cfg.quality.adjudication
    probs = _serving_probs(store, classes) if adj.method == "crowdlab" else None
    return live, resolve(live, classes, method=adj.method, review_below=adj.review_below, pred_probs=probs)


def assess(
    store: Store,
    cfg: ProjectConfig,
    *,
    live: LiveLabels | None = None,
    resolution: Resolution | None = None,
    training_labels: Mapping[int, str] | None = None,
    label_errors: LabelErrorCheck | None = None,
) -> QualityReport:
    """Measure everything and evaluate the gates. ``training_labels`` (item → label) are the labels the gates
    judge; by default every resolved label outside the evaluation split."""
    if live is None or resolution is None:
        live, resolution = resolve_store(store, cfg)
    classes = list(cfg.task.labels)
    gold = gold_accuracy(live)
    agreement = agreement_summary(live, classes)
    if training_labels is None:
        eval_split = cfg.model.eval_split
        split = {it["id"]: it["split"] for it in store.items(columns=("id", "split"))}
        training_labels = {
            i: r.label for i, r in resolution.labels.items() if eval_split is None or split.get(i) != eval_split
        }
    measures = QualityMeasures(
        gold_accuracy=gold.accuracy,
        gold_answers=gold.answers,
        agreement_alpha=agreement.get("krippendorff_alpha_nominal"),
        overlap_items=agreement["overlap_items"],
        label_error_rate=label_errors.rate if label_errors is not None else None,
        labels_per_class=Counter(training_labels.values()),
    )
    gates = evaluate_gates(measures, cfg.quality.gates, classes)
    return QualityReport(resolution, live, gold, agreement, label_errors, autolabel_audit(live), gates)


def embed_for_check(store: Store, cfg: ProjectConfig, workdir: Path, item_ids: Sequence[int]) -> np.ndarray:
    """Embeddings of ``item_ids`` from the cache (computing the missing ones)."""
    from labelloop.engine.embedding import cache_for, embed_store_items, open_runner

    by_id = {it["id"]: it for it in store.items(columns=("id", "text", "uri", "content_hash"))}
    spec = cfg.model.encoder
    with open_runner(cfg.model.compute) as runner:
        X, _ = embed_store_items([by_id[i] for i in item_ids], spec=spec, cache=cache_for(workdir, spec), runner=runner)
    return X
