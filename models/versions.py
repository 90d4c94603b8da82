"""Model versions: an id derived from what made the model, an artifact on disk, and bit-identical reloading.

A version id is a hash of (encoder fingerprint, head name and parameters, calibration, training data identity), so
the same training twice is the same version and any change is a new one — never one ``model.pkl`` overwritten under
a constant name. The artifact folder ``<workdir>/models/<id>/`` holds ``model.joblib`` (the fitted head and its
calibrator, with the class order) and ``meta.json`` (lineage and metrics, also recorded in the store).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from numpy.typing import NDArray

ARTIFACT = "model.joblib"
META = "meta.json"


def model_version_id(
    *, encoder_fingerprint: str, head: str, head_params: dict[str, Any], calibration: str, train_identity: str
) -> str:
    payload = json.dumps(
        {
            "encoder": encoder_fingerprint,
            "head": head,
            "params": head_params,
            "calibration": calibration,
            "data": train_identity,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "mv-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


@dataclass
class TrainedModel:
    """A fitted head (+ optional calibrator) over embeddings, with the class order its columns follow."""

    head: Any
    calibrator: Any | None
    classes: list[str]

    def predict_proba(self, X: NDArray[np.float32]) -> NDArray[np.float64]:
        """Class probabilities ``(n, k)``, columns in :attr:`classes` order (calibrated if a calibrator is set)."""
        probs = np.asarray(self.head.predict_proba(X), dtype=np.float64)
        head_classes = [str(c) for c in self.head.classes_]
        if head_classes != self.classes:
            aligned = np.zeros((probs.shape[0], len(self.classes)))
            for j, c in enumerate(head_classes):
                aligned[:, self.classes.index(c)] = probs[:, j]
            probs = aligned
        if self.calibrator is not None:
            probs = np.asarray(self.calibrator.transform(probs), dtype=np.float64)
        return probs


def save_model(folder: Path, model: TrainedModel, meta: dict[str, Any]) -> Path:
    """Write the artifact atomically (temp folder + rename); an existing version folder is left untouched."""
    folder = Path(folder)
    if (folder / ARTIFACT).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    joblib.dump(model, tmp / ARTIFACT)
    (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    try:
        os.replace(tmp, folder)
    except OSError:  # another process saved the same version first: same inputs, same model
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return folder


def load_model(folder: Path) -> TrainedModel:
    path = Path(folder) / ARTIFACT
    if not path.is_file():
        raise FileNotFoundError(f"model artifact missing: {path}")
    model = joblib.load(path)
    if not isinstance(model, TrainedModel):
        raise TypeError(f"{path} does not hold a labelloop TrainedModel")
    return model
