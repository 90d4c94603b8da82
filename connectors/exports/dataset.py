"""Export a dataset version with the provenance of every label.

Each row of the version's manifest (item identity hash, item id, label, resolution rule) is joined with the item
(external id, split, redacted text, uri: never the original text) and with the label event that stands behind the
label: the latest live event carrying that label for the item, preferring events of the source the rule names
(rule ``gold`` → a ``gold`` event, ``consensus:dawid-skene`` → no source of that name → any). "Live" is judged
as of the version's creation: events and retractions recorded later do not change an old version's export.

:func:`export_dataset_version` is the entry point; :func:`dataset_table` gives the joined Arrow table alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from labelloop.connectors.exports.registry import get_exporter
from labelloop.engine.store import Store
from labelloop.engine.store.dataset_versions import DatasetVersionInfo, ManifestError, ManifestRow, read_manifest
from labelloop.engine.store.repository import as_utc
from labelloop.engine.taxonomy.history import TaxonomyHistory

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("item", pa.string()),  # identity hash: stable across re-ingests
        ("item_id", pa.int64()),
        ("external_id", pa.string()),
        ("split", pa.string()),
        ("text", pa.string()),  # redacted
        ("uri", pa.string()),
        ("label", pa.string()),
        ("rule", pa.string()),  # how the label was resolved (human, gold, consensus:..., ...)
        ("label_event_id", pa.int64()),
        ("label_source", pa.string()),
        ("annotator", pa.string()),
        ("tool", pa.string()),
        ("tool_version", pa.string()),
        ("model_version_id", pa.string()),
        ("confidence", pa.float64()),
        ("round_id", pa.int64()),
        ("event_at", pa.timestamp("us", tz="UTC")),
        ("agreeing_events", pa.int64()),  # live events (one per source and annotator) with this label
    ]
)
PROVENANCE_COLUMNS = (
    "label_event_id",
    "label_source",
    "annotator",
    "tool",
    "tool_version",
    "model_version_id",
    "confidence",
    "round_id",
    "event_at",
)


class ExportBlocked(RuntimeError):
    """Quality gates failed and no reason to export anyway was given."""

    def __init__(self, version_id: str, failed: Sequence[str]) -> None:
        self.version_id = version_id
        self.failed = list(failed)
        super().__init__(
            f"export of dataset version {version_id} blocked by {len(self.failed)} failed quality gate(s): "
            f"{'; '.join(self.failed)}; give a force reason (--force-reason) to export anyway"
        )


@dataclass(frozen=True)
class ExportResult:
    dataset_version: str
    format: str
    path: str
    sidecar: str
    rows: int
    sha256: str
    rows_without_provenance: int
    forced: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ts(value: Any) -> datetime | None:
    return as_utc(value) if isinstance(value, datetime) else None


def label_provenance(
    events: Iterable[Mapping[str, Any]], rows: Sequence[ManifestRow], *, as_of: datetime | None
) -> dict[int, tuple[Mapping[str, Any] | None, int]]:
    """For each manifest row's item id: (the event behind its label or None, number of agreeing live events).

    ``events`` are label-event rows (any order). An event is live if it carries a label, was recorded by
    ``as_of`` and no retraction recorded by then withdraws it; per (item, source, annotator) only the latest live
    event counts (an edit replaces the annotator's earlier answer; a skip replaces nothing).
    """
    wanted = {r.item_id for r in rows}
    cutoff = as_utc(as_of) if as_of is not None else None
    seen = [
        e
        for e in events
        if e["item_id"] in wanted
        and (cutoff is None or (_ts(e.get("recorded_at")) or cutoff) <= cutoff)  # no recorded_at: counts
    ]
    retracted = {e["retracts_event_id"] for e in seen if e.get("retracts_event_id") is not None}
    current: dict[tuple[int, str, str | None], Mapping[str, Any]] = {}
    for e in sorted(seen, key=lambda ev: ev["id"]):
        if e["label"] is None or e.get("retracts_event_id") is not None or e["id"] in retracted:
            continue
        current[(e["item_id"], e["source"], e.get("annotator"))] = e
    by_item: dict[int, list[Mapping[str, Any]]] = {}
    for e in current.values():
        by_item.setdefault(e["item_id"], []).append(e)
    out: dict[int, tuple[Mapping[str, Any] | None, int]] = {}
    for r in rows:
        matching = [e for e in by_item.get(r.item_id, []) if e["label"] == r.label]
        named = r.rule.split(":", 1)[0]
        preferred = [e for e in matching if e["source"] == named] or matching
        out[r.item_id] = (max(preferred, key=lambda ev: ev["id"]) if preferred else None, len(matching))
    return out


def dataset_table(store: Store, workdir: Path, version_id: str) -> tuple[pa.Table, DatasetVersionInfo, int]:
    """The version's rows joined with items and label provenance, in manifest order; also the version record
    and how many rows found no event carrying their label (their provenance columns are null)."""
    info, rows = read_manifest(store, workdir, version_id)
    items = {it["id"]: it for it in store.items(columns=("id", "identity_hash", "external_id", "split", "text", "uri"))}
    # labels read under the taxonomy of the version's day, so an event given under an older name (before a rename
    # or merge) is found behind the label it now reads as
    history = TaxonomyHistory.load(store, as_of=info.created_at)
    provenance = label_provenance(history.apply(store.label_events()).events, rows, as_of=info.created_at)
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    missing = 0
    for r in rows:
        item = items.get(r.item_id)
        if item is None:
            raise ManifestError(f"dataset version {info.id}: item {r.item_id} ({r.item}) is not in the store")
        if item["identity_hash"] != r.item:
            raise ManifestError(
                f"dataset version {info.id}: item {r.item_id} has identity {item['identity_hash']} in the store "
                f"but {r.item} in the manifest (the store was rebuilt with other ids?)"
            )
        event, agreeing = provenance[r.item_id]
        if event is None:
            missing += 1
        values = {
            "item": r.item,
            "item_id": r.item_id,
            "external_id": item["external_id"],
            "split": item["split"],
            "text": item["text"],
            "uri": item["uri"],
            "label": r.label,
            "rule": r.rule,
            "agreeing_events": agreeing,
            "label_event_id": event["id"] if event else None,
            "label_source": event["source"] if event else None,
            "event_at": _ts(event.get("event_at")) if event else None,
        }
        for key in ("annotator", "tool", "tool_version", "model_version_id", "confidence", "round_id"):
            values[key] = event.get(key) if event else None
        for name in SCHEMA.names:
            columns[name].append(values[name])
    if missing:
        log.warning("dataset version %s: %d row(s) have no live label event with their label", info.id, missing)
    return pa.table(columns, schema=SCHEMA), info, missing


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_sha256(path: Path) -> tuple[str, dict[str, str]]:
    """sha256 of a file; for a folder, sha256 over its files' relative paths and sha256s (sorted), with each
    file's sha256."""
    if path.is_file():
        digest = _file_sha256(path)
        return digest, {path.name: digest}
    files = {p.relative_to(path).as_posix(): _file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}
    h = hashlib.sha256()
    for rel, digest in sorted(files.items()):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest(), files


def sidecar_path(out_path: Path) -> Path:
    """Where the export's record goes: beside the output, ``<name>.export.json``."""
    return out_path.with_name(out_path.name + ".export.json")


def export_dataset_version(
    store: Store,
    workdir: Path,
    version_id: str,
    fmt: str,
    out_path: str | Path,
    *,
    force_reason: str | None = None,
    gate_failures: Sequence[str] | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write dataset version ``version_id`` as ``fmt`` to ``out_path``, with ``<out_path>.export.json`` beside it
    (version, format, rows, sha256, and the forced reason if any).

    ``gate_failures`` names the quality gates that failed for this version; any failure blocks the export
    (:class:`ExportBlocked`) unless ``force_reason`` says why to export anyway. The output appears whole or not at
    all (written beside it, then renamed); an existing output is replaced only with ``overwrite``.
    """
    exporter = get_exporter(fmt)
    failed = [g for g in (gate_failures or []) if g]
    reason = (force_reason or "").strip()
    if failed and not reason:
        raise ExportBlocked(version_id, failed)
    out = Path(out_path).resolve()
    if out.exists() and not overwrite:
        raise FileExistsError(f"export output {out} exists; choose another path or overwrite it")
    table, info, missing = dataset_table(store, workdir, version_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        target = tmp / out.name
        exporter.write(table, target, fingerprint=hashlib.sha256(f"{info.id}:{fmt}".encode()).hexdigest()[:16])
        digest, files = content_sha256(target)
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        elif target.is_dir() and out.exists():
            out.unlink()
        os.replace(target, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    forced = {"reason": reason, "failed_gates": failed} if failed else None
    record = {
        "dataset_version": info.id,
        "resolution_rule": info.resolution_rule,
        "format": fmt,
        "path": str(out),
        "rows": table.num_rows,
        "columns": table.column_names,
        "sha256": digest,
        "files": files,
        "rows_without_provenance": missing,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate_failures": failed,
        "forced": forced,
    }
    side = sidecar_path(out)
    side.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if forced:
        log.warning("export of %s forced past failed gates %s: %s", info.id, failed, reason)
    log.info("exported dataset_version=%s format=%s rows=%d path=%s sha256=%s", info.id, fmt, len(table), out, digest)
    return ExportResult(info.id, fmt, str(out), str(side), table.num_rows, digest, missing, forced)
