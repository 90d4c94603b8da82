"""A small project with two dataset versions, shared by the dataset diff, export and `labelloop dataset` tests.

v1 → v2: item a5 added, a4 removed (its only label, a human one, retracted), a1 relabelled pos → neg by a human,
a2 and a3 unchanged. After v2, a later agreeing label on a2 is recorded: it must not change either version's
provenance. a1's text holds an e-mail address, redacted at ingest (the original is stored too, and never exported).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labelloop.engine.api import Project
from labelloop.engine.training import snapshot_labels

ORIGINAL_EMAIL = "ann.lee@example.org"


@dataclass
class DatasetProject:
    config: Path
    project: Project
    v1: str
    v2: str
    ids: dict[str, int]  # external id → item id
    events: dict[str, int]  # name → label event id


def _snapshot(project: Project) -> str:
    items = project.store.items(columns=("id", "identity_hash", "split"))
    snap = snapshot_labels(
        project.store, project.workdir, labels=project.store.current_labels(), items=items, exclude_split="test"
    )
    return snap.id


def _human(item_id: int, label: str | None, annotator: str, **extra: object) -> dict[str, object]:
    return {"item_id": item_id, "label": label, "source": "human", "annotator": annotator, "tool": "label-studio",
            "tool_version": "1.20.0", **extra}  # fmt: skip


@pytest.fixture(scope="module")
def dataset_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetProject]:
    root = tmp_path_factory.mktemp("dsproj")
    (root / "in.csv").write_text(
        "id,text,label,split\n"
        f'a1,"write to {ORIGINAL_EMAIL}, please",pos,train\n'
        'a2,"rain, again and ""again""",neg,train\n'
        'a3,"two\nlines",pos,train\n'
        "a4,grey skies,,train\n"
        "t1,held out,neg,test\n"
    )
    (root / "more.csv").write_text("id,text,label,split\na5,sunny spell,pos,train\n")
    cfg = root / "labelloop.yaml"
    cfg.write_text(
        "project: ds-test\nworkdir: state\ntask:\n  labels: [pos, neg]\n"
        "source:\n  path: in.csv\n  label_field: label\n  split_field: split\n"
        "ingest:\n  store_original_text: true\n"
        "privacy:\n  spacy_model: null\n  workers: 1\n"
        "quality:\n  gates:\n    max_label_error_rate: null\n    min_labels_per_class: 1\n"
    )
    project = Project.from_config_file(cfg)
    project.init()
    project.ingest()
    ids = {it["external_id"]: it["id"] for it in project.store.items(columns=("id", "external_id"))}
    store = project.store
    store.append_label_events([_human(ids["a2"], "neg", "alice", round_id=None, confidence=0.9)])
    store.append_label_events([_human(ids["a4"], "neg", "bob")])
    events = {"a2_alice": store.label_events(ids["a2"])[-1]["id"], "a4_bob": store.label_events(ids["a4"])[-1]["id"]}
    v1 = _snapshot(project)

    project.ingest(root / "more.csv")
    ids.update({it["external_id"]: it["id"] for it in store.items(columns=("id", "external_id"))})
    round_id = store.add_round({"strategy": "margin", "params": {}, "seed": 0})
    events["round"] = round_id
    store.append_label_events(
        [_human(ids["a1"], "neg", "carol", model_version_id="mv-test", confidence=0.75, round_id=round_id)]
    )
    events["a1_carol"] = store.label_events(ids["a1"])[-1]["id"]
    store.append_label_events([_human(ids["a4"], None, "bob", retracts_event_id=events["a4_bob"])])
    v2 = _snapshot(project)

    store.append_label_events([_human(ids["a2"], "neg", "dave")])  # after both versions
    try:
        yield DatasetProject(cfg, project, v1, v2, ids, events)
    finally:
        project.close()
