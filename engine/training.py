"""Training: snapshot the current labels as a dataset version, fit a head on embeddings, calibrate, evaluate,
register a model version.

The dataset version is content-addressed (sha256 of its manifest), so training twice on the same labels names the
same dataset and yields the same model version id. Items of the evaluation split (``model.eval_split``) are never
trained on; their labels measure every version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from labelloop.engine.config import ConfigError, ProjectConfig
from labelloop.engine.embedding import cache_for, embed_store_items, open_runner
from labelloop.engine.quality.resolution import RULE_VERSION as RESOLUTION_RULE
from labelloop.engine.store import Store
from labelloop.models.encoders.spec import encoder_fingerprint
from labelloop.models.versions import TrainedModel, model_version_id, save_model

log = logging.getLogger(__name__)


class NotEnoughLabels(RuntimeError):
    """Training needs at least two labelled items per class present and two classes."""


@dataclass(frozen=True)
class DatasetSnapshot:
    id: str
    item_ids: list[int]
    labels: list[str]
    manifest_path: str
    created: bool


@dataclass
class TrainResult:
    model_version: str
    dataset_version: str
    created: bool
    train_items: int
    calibration_items: int
    eval_items: int
    metrics: dict[str, Any] = field(default_factory=dict)
    serving: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_body(
    *,
    labels: dict[int, str],
    items: list[dict[str, Any]],
    exclude_split: str | None,
    rules: dict[int, str] | None = None,
) -> tuple[str, bytes, list[dict[str, Any]]]:
    """(version id, manifest bytes, rows) of a dataset version: the one definition of its content, shared by
    :func:`snapshot_labels` and the reproduction of an old version."""
    rows = [
        {
            "item": it["identity_hash"],
            "item_id": it["id"],
            "label": labels[it["id"]],
            "rule": (rules or {}).get(it["id"], RESOLUTION_RULE),
        }
        for it in items
        if it["id"] in labels and (exclude_split is None or it["split"] != exclude_split)
    ]
    body = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")
    return "ds-" + hashlib.sha256(body).hexdigest()[:20], body, rows


def snapshot_labels(
    store: Store,
    workdir: Path,
    *,
    labels: dict[int, str],
    items: list[dict[str, Any]],
    exclude_split: str | None,
    rules: dict[int, str] | None = None,
) -> DatasetSnapshot:
    """Freeze ``labels`` (item id → current label) of the ``items`` (rows with ``id``, ``identity_hash``, ``split``)
    outside ``exclude_split`` into an immutable manifest recorded in the store; ``rules`` says how each label was
    resolved (gold, human, consensus:dawid-skene, ...)."""
    version, body, rows = manifest_body(labels=labels, items=items, exclude_split=exclude_split, rules=rules)
    folder = workdir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.jsonl"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
    created = store.add_dataset_version(
        {"id": version, "resolution_rule": RESOLUTION_RULE, "n_items": len(rows), "manifest_path": str(path)}
    )
    return DatasetSnapshot(version, [r["item_id"] for r in rows], [r["label"] for r in rows], str(path), created)


def _expected_calibration_error(probs: np.ndarray, y_idx: np.ndarray) -> float:
    from labelloop.models.heads import expected_calibration_error

    return float(expected_calibration_error(probs, y_idx))


def train(
    store: Store, cfg: ProjectConfig, workdir: Path, *, promote: bool = True, force_reason: str | None = None
) -> TrainResult:
    """Fit the configured head on the resolved labels; register (and by default serve) the model version.

    The quality gates run first, on the labels this run would train on; a failed gate raises
    :class:`~labelloop.engine.quality.gates.GateBlocked` unless ``force_reason`` is given, which is then recorded
    in the model version's metrics with the gate results.
    """
    from labelloop.engine.quality.assess import assess, check_label_errors, resolve_store
    from labelloop.engine.quality.gates import GateBlocked, blocked
    from labelloop.models.heads import fit_head, make_calibrator, make_head, uses_unlabeled
    from labelloop.models.heads.registry import UnknownHeadError

    mc = cfg.model
    classes = list(cfg.task.labels)
    # One read of the labels and items serves the snapshot and the evaluation set, so both see the same state.
    live, resolution = resolve_store(store, cfg)
    labels_now = resolution.label_map()
    rules = {i: r.rule for i, r in resolution.labels.items()}
    items = store.items(columns=("id", "identity_hash", "text", "uri", "content_hash", "split"))
    snap = snapshot_labels(store, workdir, labels=labels_now, items=items, exclude_split=mc.eval_split, rules=rules)
    present = sorted(set(snap.labels))
    if len(present) < 2:
        raise NotEnoughLabels(
            f"training needs labels of at least 2 classes; have {len(snap.labels)} labels of {present}"
        )

    by_id = {it["id"]: it for it in items}
    eval_ids = [i for i, it in by_id.items() if mc.eval_split and it["split"] == mc.eval_split and i in labels_now]

    rng = np.random.default_rng(mc.head.seed)
    n = len(snap.item_ids)
    use_cal = mc.head.calibration != "none" and n >= mc.head.min_calibration_labels
    cal_mask = np.zeros(n, dtype=bool)
    if use_cal:
        cal_mask[rng.permutation(n)[: round(n * mc.head.calibration_fraction)]] = True
    y = np.array(snap.labels, dtype=object)

    spec = mc.encoder
    cache = cache_for(workdir, spec)
    with open_runner(mc.compute) as runner:
        X, embed_stats = embed_store_items([by_id[i] for i in snap.item_ids], spec=spec, cache=cache, runner=runner)
        X_eval = (
            embed_store_items([by_id[i] for i in eval_ids], spec=spec, cache=cache, runner=runner)[0]
            if eval_ids
            else None
        )
        # a head that learns from the unlabeled pool gets every item outside the snapshot and the evaluation split
        X_unlabeled, pool_identity = None, None
        try:
            wants_pool = uses_unlabeled(mc.head.name)
        except UnknownHeadError:  # reported with its config key where the head is made
            wants_pool = False
        if wants_pool:
            in_snap = set(snap.item_ids)
            pool = [
                it
                for i, it in by_id.items()
                if i not in in_snap and not (mc.eval_split and it["split"] == mc.eval_split)
            ]
            X_unlabeled = embed_store_items(pool, spec=spec, cache=cache, runner=runner)[0] if pool else None
            # the pool is part of what the model learnt from: its fingerprint goes into the model version
            pool_identity = hashlib.sha256("".join(sorted(it["identity_hash"] for it in pool)).encode()).hexdigest()

    errors = check_label_errors(
        X,
        snap.labels,
        snap.item_ids,
        classes,
        min_labels=cfg.quality.gates.min_labels_for_error_rate,
        seed=mc.head.seed,
    )
    report = assess(
        store,
        cfg,
        live=live,
        resolution=resolution,
        training_labels=dict(zip(snap.item_ids, snap.labels, strict=True)),
        label_errors=errors,
    )
    failed = blocked(report.gates)
    if failed and not force_reason:
        raise GateBlocked("training", report.gates)
    if failed:
        log.warning("training forced past %d failed gate(s): %s", len(failed), force_reason)

    try:
        head = make_head(mc.head.name, **mc.head.params)
    except UnknownHeadError as err:
        raise ConfigError(f"model.head.name: {err}") from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model.head.params: {err}") from None
    fit_head(head, X[~cal_mask], y[~cal_mask].astype(str), X_unlabeled=X_unlabeled)
    model = TrainedModel(head=head, calibrator=None, classes=classes)
    metrics: dict[str, Any] = {
        "train_labels": int((~cal_mask).sum()),
        "unlabeled_pool": None if X_unlabeled is None else {"items": len(X_unlabeled), "sha256": pool_identity},
        "classes_present": present,
        "gates": [g.as_dict() for g in report.gates],
        "label_error_rate": errors.rate,
        "resolution": {"method": resolution.method, "review_queue": len(resolution.review)},
    }
    if failed:
        metrics["forced_past_gates"] = {"reason": force_reason, "failed": [g.gate for g in failed]}

    if use_cal:
        y_cal_idx = np.array([classes.index(c) for c in y[cal_mask]])
        raw = model.predict_proba(X[cal_mask])
        calibrator = make_calibrator(mc.head.calibration).fit(raw, y_cal_idx)
        model.calibrator = calibrator
        metrics["calibration"] = mc.head.calibration
        metrics["calibration_labels"] = int(cal_mask.sum())
    else:
        metrics["calibration"] = "none"

    if X_eval is not None and len(eval_ids):
        y_eval = [labels_now[i] for i in eval_ids]
        y_eval_idx = np.array([classes.index(c) for c in y_eval])
        probs = model.predict_proba(X_eval)
        pred = [classes[j] for j in probs.argmax(axis=1)]
        metrics.update(
            eval_split=mc.eval_split,
            eval_items=len(eval_ids),
            accuracy=float(accuracy_score(y_eval, pred)),
            macro_f1=float(f1_score(y_eval, pred, average="macro", labels=classes, zero_division=0)),
            ece=_expected_calibration_error(probs, y_eval_idx),
        )
        if model.calibrator is not None:
            uncal = TrainedModel(head=head, calibrator=None, classes=classes).predict_proba(X_eval)
            metrics["ece_uncalibrated"] = _expected_calibration_error(uncal, y_eval_idx)

    head_params = {k: v for k, v in head.get_params().items() if isinstance(v, str | int | float | bool | None)}
    fp = encoder_fingerprint(spec)
    version = model_version_id(
        encoder_fingerprint=fp,
        head=mc.head.name,
        head_params=head_params,
        calibration=metrics["calibration"],
        train_identity=snap.id if pool_identity is None else f"{snap.id}+pool:{pool_identity}",
    )
    folder = workdir / "models" / version
    meta = {
        "model_version": version,
        "encoder": spec.model_dump(),
        "encoder_fingerprint": fp,
        "head": mc.head.name,
        "head_params": head_params,
        "dataset_version": snap.id,
        "classes": classes,
        "metrics": metrics,
        "embedding": {"embedded": embed_stats.embedded, "cache_hits": embed_stats.hits},
    }
    save_model(folder, model, meta)
    created = store.add_model_version(
        {
            "id": version,
            "encoder_fingerprint": fp,
            "head": mc.head.name,
            "head_params": head_params,
            "dataset_version_id": snap.id,
            "train_identity": snap.id,
            "metrics": metrics,
            "artifact_path": str(folder),
        }
    )
    serving = False
    if promote:
        store.set_serving(version)
        serving = True
    log.info("trained model_version=%s dataset_version=%s metrics=%s", version, snap.id, metrics)
    return TrainResult(
        model_version=version,
        dataset_version=snap.id,
        created=created,
        train_items=int((~cal_mask).sum()),
        calibration_items=int(cal_mask.sum()),
        eval_items=len(eval_ids),
        metrics=metrics,
        serving=serving,
    )
