"""Drift of the newest data against what the serving model was trained on, read from the store.

Reference embeddings: the items of the serving model's dataset version. Batch: the items of the latest ingest run
that added items, minus the reference. Output tests use the model's probabilities on the evaluation split (held
out, like the reference must be, see :mod:`labelloop.engine.metrics.drift`) against its probabilities on the batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.engine.config import ProjectConfig
from labelloop.engine.metrics.drift import DriftReport, detect_drift
from labelloop.engine.store import Store

log = logging.getLogger(__name__)

MIN_BATCH = 20


@dataclass(frozen=True)
class BatchDrift:
    """The drift check of one batch: which batch, against which model, and the report (None with a note)."""

    model_version: str | None
    ingest_run_id: int | None
    reference_items: int
    batch_items: int
    report: DriftReport | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "ingest_run_id": self.ingest_run_id,
            "reference_items": self.reference_items,
            "batch_items": self.batch_items,
            "alert": None if self.report is None else self.report.alert,
            "report": None if self.report is None else self.report.as_dict(),
            "note": self.note,
        }


def latest_batch_drift(store: Store, cfg: ProjectConfig, workdir: Path, *, seed: int = 0) -> BatchDrift:
    """Drift of the latest ingest run's new items against the serving model's training items."""
    from labelloop.engine.quality.assess import embed_for_check
    from labelloop.models.versions import load_model

    serving = store.serving_model_version()
    if serving is None or not serving.get("dataset_version_id"):
        return BatchDrift(None, None, 0, 0, None, "no serving model yet")
    version = store.dataset_version(serving["dataset_version_id"])
    manifest = Path(version["manifest_path"]) if version else None
    if manifest is None or not manifest.is_file():
        return BatchDrift(serving["id"], None, 0, 0, None, "the serving model's dataset manifest is missing")
    reference = [json.loads(line)["item_id"] for line in manifest.read_text(encoding="utf-8").splitlines() if line]
    runs = [r for r in store.ingest_runs() if r["status"] == "done" and (r["items_added"] or 0) > 0]
    if not runs:
        return BatchDrift(serving["id"], None, len(reference), 0, None, "nothing ingested")
    latest = max(runs, key=lambda r: r["id"])
    ref_set = set(reference)
    eval_split = cfg.model.eval_split
    items = store.items(columns=("id", "split", "ingest_run_id"))
    batch = [it["id"] for it in items if it["ingest_run_id"] == latest["id"] and it["id"] not in ref_set]
    if len(batch) < MIN_BATCH or len(reference) < MIN_BATCH:
        note = f"batch of {len(batch)} new items, reference of {len(reference)}: at least {MIN_BATCH} each needed"
        return BatchDrift(serving["id"], latest["id"], len(reference), len(batch), None, note)
    rng = np.random.default_rng(seed)
    cap = cfg.drift.max_samples
    ref_ids = [int(i) for i in rng.permutation(reference)[:cap]]
    batch_ids = [int(i) for i in rng.permutation(batch)[:cap]]
    held_out = [it["id"] for it in items if eval_split is not None and it["split"] == eval_split][:cap]
    X_ref = embed_for_check(store, cfg, workdir, ref_ids)
    X_batch = embed_for_check(store, cfg, workdir, batch_ids)
    ref_proba = batch_proba = None
    if len(held_out) >= MIN_BATCH:
        model = load_model(Path(serving["artifact_path"]))
        ref_proba = model.predict_proba(embed_for_check(store, cfg, workdir, held_out))
        batch_proba = model.predict_proba(X_batch)
    report = detect_drift(X_ref, X_batch, reference_proba=ref_proba, batch_proba=batch_proba, config=cfg.drift, rng=rng)
    log.info("drift run=%s alert=%s reasons=%s", latest["id"], report.alert, report.reasons)
    return BatchDrift(serving["id"], latest["id"], len(reference), len(batch), report)
