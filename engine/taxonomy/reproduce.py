"""Rebuilding a dataset version from the append-only store, as it was when the version was made.

A dataset version's manifest is content-addressed; rebuilding it from the label events and taxonomy versions
recorded up to its ``created_at`` must give the same bytes, whatever migrations came later (they never rewrite
events). Limits: CROWDLAB resolutions depend on the serving model's probabilities, which are not versioned here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from labelloop.engine.config import ProjectConfig
from labelloop.engine.store import Store
from labelloop.engine.store.repository import as_utc


@dataclass(frozen=True)
class Reproduction:
    version: str
    rebuilt_version: str
    identical: bool
    manifest_sha256: str
    rebuilt_sha256: str
    rows: int


def reproduce_dataset(store: Store, cfg: ProjectConfig, version_id: str) -> Reproduction:
    """Rebuild ``version_id`` from the store as of its creation and compare it with its manifest file byte by byte."""
    from labelloop.engine.quality.assess import resolve_store
    from labelloop.engine.training import manifest_body

    info = store.dataset_version(version_id)
    if info is None:
        raise KeyError(f"no dataset version {version_id!r}")
    _, resolution = resolve_store(store, cfg, as_of=as_utc(info["created_at"]))
    items = store.items(columns=("id", "identity_hash", "split"))
    rebuilt_id, body, rows = manifest_body(
        labels=resolution.label_map(),
        items=items,
        exclude_split=cfg.model.eval_split,
        rules={i: r.rule for i, r in resolution.labels.items()},
    )
    stored = Path(info["manifest_path"]).read_bytes()
    return Reproduction(
        version_id,
        rebuilt_id,
        body == stored and rebuilt_id == version_id,
        hashlib.sha256(stored).hexdigest(),
        hashlib.sha256(body).hexdigest(),
        len(rows),
    )
