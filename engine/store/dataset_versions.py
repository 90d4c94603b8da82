"""Dataset versions after the fact: list them, read a version's manifest back (checked against its id), and diff
two versions.

A dataset version is written once by :func:`labelloop.engine.training.snapshot_labels`: a JSONL manifest of
``{item, item_id, label, rule}`` rows whose sha256 names the version (``ds-`` + 20 hex digits), recorded in the
``dataset_versions`` table. Rows are keyed by ``item``, the item's identity hash, which survives re-ingests, so a
diff compares the same text across versions even if its row id changed. Use :func:`read_manifest` for one version,
:func:`diff_versions` for what changed between two, :func:`list_dataset_versions` for all of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from labelloop.engine.store.models import DatasetVersion
from labelloop.engine.store.repository import Store, as_utc


class DatasetVersionNotFound(KeyError):
    """No dataset version of that id in the store; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class ManifestError(ValueError):
    """A dataset version's manifest is missing, unreadable or no longer matches its content-addressed id."""


@dataclass(frozen=True)
class ManifestRow:
    item: str  # identity hash
    item_id: int
    label: str
    rule: str


@dataclass(frozen=True)
class DatasetVersionInfo:
    id: str
    resolution_rule: str
    n_items: int
    manifest_path: str
    created_at: Any
    note: str | None


def list_dataset_versions(store: Store) -> list[DatasetVersionInfo]:
    """Every recorded dataset version, oldest first (a read-only query beside :class:`Store`'s own)."""
    stmt = select(DatasetVersion).order_by(DatasetVersion.created_at, DatasetVersion.id)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_info(dict(r)) for r in rows]


def _info(row: dict[str, Any]) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        id=row["id"],
        resolution_rule=row["resolution_rule"],
        n_items=int(row["n_items"]),
        manifest_path=row["manifest_path"],
        created_at=as_utc(row["created_at"]) if row.get("created_at") is not None else None,
        note=row.get("note"),
    )


def get_dataset_version(store: Store, version_id: str) -> DatasetVersionInfo:
    row = store.dataset_version(version_id)
    if row is None:
        known = [v.id for v in list_dataset_versions(store)]
        listed = ", ".join(known[-10:]) if known else "none (train once to snapshot the labels)"
        raise DatasetVersionNotFound(f"unknown dataset version {version_id!r}; known versions: {listed}")
    return _info(row)


def manifest_file(info: DatasetVersionInfo, workdir: Path) -> Path:
    """Where the manifest is: the recorded path, else ``<workdir>/datasets/<id>.jsonl`` (a moved workdir)."""
    recorded = Path(info.manifest_path)
    if recorded.is_file():
        return recorded
    local = workdir / "datasets" / f"{info.id}.jsonl"
    if local.is_file():
        return local
    raise ManifestError(f"dataset version {info.id}: manifest not found at {recorded} nor at {local}")


def read_manifest(store: Store, workdir: Path, version_id: str) -> tuple[DatasetVersionInfo, list[ManifestRow]]:
    """The version's record and its rows, after checking that the manifest still hashes to the version id."""
    info = get_dataset_version(store, version_id)
    path = manifest_file(info, workdir)
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    if info.id.startswith("ds-") and not digest.startswith(info.id[3:]):
        raise ManifestError(
            f"dataset version {info.id}: manifest {path} hashes to sha256 {digest[:20]}..., not to its id "
            "(it was modified after the version was recorded)"
        )
    rows: list[ManifestRow] = []
    for n, line in enumerate(body.decode("utf-8").splitlines(), start=1):
        try:
            d = json.loads(line)
            rows.append(ManifestRow(str(d["item"]), int(d["item_id"]), str(d["label"]), str(d["rule"])))
        except (ValueError, KeyError, TypeError) as e:
            raise ManifestError(
                f"dataset version {info.id}: manifest {path} line {n} is not a manifest row: {e}"
            ) from None
    if len(rows) != info.n_items:
        raise ManifestError(f"dataset version {info.id}: manifest has {len(rows)} rows, the store says {info.n_items}")
    return info, rows


@dataclass(frozen=True)
class Entry:
    """An item in one version only."""

    item: str
    item_id: int
    label: str
    rule: str


@dataclass(frozen=True)
class Relabel:
    """An item in both versions whose label differs."""

    item: str
    item_id: int
    old: str
    new: str
    old_rule: str
    new_rule: str


@dataclass
class DatasetDiff:
    """What changed from ``v1`` to ``v2``, each list sorted by item id. ``unchanged`` counts items with the same
    label in both (a changed ``rule`` alone, e.g. human → adjudication with the same label, is counted there)."""

    v1: str
    v2: str
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    relabelled: list[Relabel] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "v1": self.v1,
            "v2": self.v2,
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "relabelled": len(self.relabelled),
                "unchanged": self.unchanged,
            },
            "added": [asdict(e) for e in self.added],
            "removed": [asdict(e) for e in self.removed],
            "relabelled": [asdict(r) for r in self.relabelled],
        }


def diff_versions(store: Store, workdir: Path, v1: str, v2: str) -> DatasetDiff:
    """Items added in ``v2``, removed from ``v1``, and relabelled between them, matched by identity hash."""
    _, rows1 = read_manifest(store, workdir, v1)
    _, rows2 = read_manifest(store, workdir, v2)
    old = {r.item: r for r in rows1}
    new = {r.item: r for r in rows2}
    diff = DatasetDiff(v1=v1, v2=v2)
    for key, r in new.items():
        before = old.get(key)
        if before is None:
            diff.added.append(Entry(r.item, r.item_id, r.label, r.rule))
        elif before.label != r.label:
            diff.relabelled.append(Relabel(r.item, r.item_id, before.label, r.label, before.rule, r.rule))
        else:
            diff.unchanged += 1
    diff.removed = [Entry(r.item, r.item_id, r.label, r.rule) for key, r in old.items() if key not in new]
    for entries in (diff.added, diff.removed, diff.relabelled):
        entries.sort(key=lambda e: (e.item_id, e.item))
    return diff
