"""Dataset versions: listing, manifests checked against their ids, and the diff of two versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labelloop.engine.store.dataset_versions import (
    DatasetVersionNotFound,
    ManifestError,
    diff_versions,
    get_dataset_version,
    list_dataset_versions,
    read_manifest,
)


def test_list_versions_oldest_first(dataset_project) -> None:  # type: ignore[no-untyped-def]
    versions = list_dataset_versions(dataset_project.project.store)
    assert [v.id for v in versions] == [dataset_project.v1, dataset_project.v2]
    assert [v.n_items for v in versions] == [4, 4]  # held-out split excluded


def test_diff_added_removed_relabelled(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    d = diff_versions(p.project.store, p.project.workdir, p.v1, p.v2)
    assert [(e.item_id, e.label) for e in d.added] == [(p.ids["a5"], "pos")]
    assert [(e.item_id, e.label) for e in d.removed] == [(p.ids["a4"], "neg")]
    assert [(r.item_id, r.old, r.new) for r in d.relabelled] == [(p.ids["a1"], "pos", "neg")]
    assert d.unchanged == 2  # a2, a3
    items = {it["id"]: it["identity_hash"] for it in p.project.store.items(columns=("id", "identity_hash"))}
    assert d.relabelled[0].item == items[p.ids["a1"]]
    counts = d.as_dict()["counts"]
    assert counts == {"added": 1, "removed": 1, "relabelled": 1, "unchanged": 2}


def test_diff_is_antisymmetric_and_empty_on_itself(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    back = diff_versions(p.project.store, p.project.workdir, p.v2, p.v1)
    assert [e.item_id for e in back.added] == [p.ids["a4"]]
    assert [e.item_id for e in back.removed] == [p.ids["a5"]]
    assert [(r.old, r.new) for r in back.relabelled] == [("neg", "pos")]
    same = diff_versions(p.project.store, p.project.workdir, p.v1, p.v1)
    assert (same.added, same.removed, same.relabelled, same.unchanged) == ([], [], [], 4)


def test_unknown_version_lists_known(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    with pytest.raises(DatasetVersionNotFound, match=rf"unknown dataset version 'ds-nope'.*{p.v1}"):
        diff_versions(p.project.store, p.project.workdir, "ds-nope", p.v1)


def test_tampered_manifest_is_refused(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    info = get_dataset_version(p.project.store, p.v1)
    original = Path(info.manifest_path)
    backup = tmp_path / "backup.jsonl"
    shutil.copy(original, backup)
    try:
        rows = [json.loads(line) for line in original.read_text().splitlines()]
        rows[0]["label"] = "neg" if rows[0]["label"] == "pos" else "pos"
        original.write_text("".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows))
        with pytest.raises(ManifestError, match=rf"{p.v1}: manifest .* hashes to sha256"):
            read_manifest(p.project.store, p.project.workdir, p.v1)
        original.unlink()
        with pytest.raises(ManifestError, match="manifest not found"):
            read_manifest(p.project.store, p.project.workdir, p.v1)
    finally:
        shutil.copy(backup, original)
    assert len(read_manifest(p.project.store, p.project.workdir, p.v1)[1]) == 4
