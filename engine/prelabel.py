"""Pre-labeling: class probabilities for every unlabelled item from the serving model version.

Items already predicted by that version are skipped, and embeddings come from the content-hash cache, so a second
run embeds and writes nothing. With no model yet (no labels), the items are embedded only, which warms the cache
for cold-start selection, and the result says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.engine.config import ProjectConfig
from labelloop.engine.embedding import cache_for, embed_store_items, open_runner
from labelloop.engine.store import Store
from labelloop.models.versions import TrainedModel, load_model

log = logging.getLogger(__name__)


@dataclass
class PrelabelResult:
    model_version: str | None
    candidates: int  # unlabelled items without a prediction from this version
    embedded: int  # items the encoder actually ran on (cache misses)
    cache_hits: int
    predictions_written: int
    seconds: float
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[int, int], None]  # (items done, items total)


def prelabel(
    store: Store,
    cfg: ProjectConfig,
    workdir: Path,
    *,
    include_labelled: bool = False,
    chunk_items: int = 10_000,
    progress: ProgressFn | None = None,
) -> PrelabelResult:
    """Predict (or, with no model yet, embed) the unlabelled items in chunks; each chunk is written when done, so an
    interrupted run resumes where it stopped."""
    start = time.perf_counter()
    serving = store.serving_model_version()
    labelled = set() if include_labelled else set(store.current_labels())
    done = store.predicted_item_ids(serving["id"]) if serving else set()
    items = [
        it
        for it in store.items(columns=("id", "text", "uri", "content_hash"))
        if it["id"] not in labelled and it["id"] not in done
    ]
    version = serving["id"] if serving else None
    if not items:
        note = "nothing to do: every unlabelled item already has a prediction from this version"
        return PrelabelResult(version, 0, 0, 0, 0, time.perf_counter() - start, note)
    spec = cfg.model.encoder
    cache = cache_for(workdir, spec)
    if serving is not None and serving["encoder_fingerprint"] != cache.fingerprint:
        raise RuntimeError(
            f"serving model {serving['id']} was trained with encoder {serving['encoder_fingerprint']}, "
            "but the config's encoder differs: run `labelloop train` first"
        )
    model = load_model(Path(serving["artifact_path"])) if serving else None
    embedded = hits = written = 0
    with open_runner(cfg.model.compute) as runner:
        for lo in range(0, len(items), chunk_items):
            chunk = items[lo : lo + chunk_items]
            X, stats = embed_store_items(chunk, spec=spec, cache=cache, runner=runner)
            embedded += stats.embedded
            hits += stats.hits
            if model is not None:
                written += store.add_predictions(_prediction_rows(chunk, model, version or "", X))
            if progress is not None:
                progress(lo + len(chunk), len(items))
    seconds = time.perf_counter() - start
    note = "ok" if model else "no model yet (no labels): embedded only; cold-start selection can use the embeddings"
    log.info(
        "prelabel model_version=%s items=%d embedded=%d written=%d note=%s",
        version,
        len(items),
        embedded,
        written,
        note,
    )
    return PrelabelResult(version, len(items), embedded, hits, written, seconds, note)


def _prediction_rows(items: list[dict[str, Any]], model: TrainedModel, version: str, X: np.ndarray) -> list[dict]:
    probs = model.predict_proba(X).astype(np.float32)
    top = probs.argmax(axis=1)
    return [
        {
            "item_id": it["id"],
            "model_version_id": version,
            "label": model.classes[int(j)],
            "score": float(p[j]),
            "probabilities": p.astype("<f4").tobytes(),
        }
        for it, p, j in zip(items, probs, top, strict=True)
    ]


def probabilities(row: dict[str, Any]) -> np.ndarray:
    """Decode a stored prediction's probabilities ``(k,)`` (task label order)."""
    return np.frombuffer(row["probabilities"], dtype="<f4")
