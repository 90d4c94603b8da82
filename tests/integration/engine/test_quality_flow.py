"""Label-error detection, the label-error gate and auto-labeling on real TREC questions, through the store with the
real encoder (offline). Label Studio is not needed here: the audit answers are written as the human events a pull
would write (the pull itself is tested against a real server in tests/integration/labelstudio)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from labelloop.engine.api import Project
from labelloop.engine.cli.main import app
from labelloop.engine.config import parse_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.quality.gates import GateBlocked

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


@pytest.fixture(scope="module")
def noisy_trec(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> tuple[Path, dict[str, str], set[str]]:
    """500 labelled train questions with 25 labels flipped, 300 unlabelled train questions, all test questions
    (labelled: the calibration set). Returns the file, the true labels and the flipped ids."""
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(800, random_state=7).copy()
    test = df[df.split == "test"]
    truth = dict(zip(df.id.astype(str), df.label, strict=True))
    rng = np.random.default_rng(7)
    flip_rows = rng.choice(500, size=25, replace=False)
    for r in flip_rows:
        idx = train.index[r]
        train.loc[idx, "label"] = rng.choice([c for c in LABELS if c != train.loc[idx, "label"]])
    train.loc[train.index[500:], "label"] = ""
    folder = tmp_path_factory.mktemp("noisy")
    path = folder / "trec_noisy.csv"
    pd.concat([train, test]).to_csv(path, index=False)
    return path, truth, {str(train.iloc[r]["id"]) for r in flip_rows}


def _raw(data: Path, **gates: object) -> dict:
    return {
        "project": "qflow",
        "task": {"labels": LABELS},
        "source": {"path": str(data), "label_field": "label", "split_field": "split"},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"compute": {"backend": "inprocess"}, "head": {"params": {"C": 5.0}}},
        "quality": {
            "gates": {"max_label_error_rate": 0.5, **gates},
            "autolabel": {"target": 0.9, "alpha": 0.05, "min_support": 30, "audit_rate": 0.1},
        },
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, noisy_trec: tuple[Path, dict[str, str], set[str]]) -> Project:
    data, _, _ = noisy_trec
    folder = tmp_path_factory.mktemp("qflow")
    p = Project(parse_config(_raw(data), base_dir=folder), workdir=folder / "w")
    p.init()
    p.ingest()
    return p


def test_label_errors_are_flagged_with_evidence_and_never_relabelled(
    project: Project, noisy_trec: tuple[Path, dict[str, str], set[str]]
) -> None:
    _, _, flipped = noisy_trec
    before = len(project.store.label_events())
    report = project.quality()
    errors = report.label_errors
    assert errors is not None and errors.checked == 500
    ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
    flagged = {ext[s["item_id"]] for s in errors.suspects}
    hits = flagged & flipped
    assert len(hits) / len(flipped) >= 0.5, (len(hits), len(flagged))  # recall
    # Precision: at least 3x the 5% base rate a random flagger would get (500 labels is a small set for 6 classes).
    assert len(hits) / len(flagged) >= 0.15, (len(hits), len(flagged))
    s = errors.suspects[0]
    assert s["given"] != s["suggested"] and 0 <= s["self_confidence"] < s["suggested_prob"] <= 1
    assert errors.rate == pytest.approx(len(errors.suspects) / 500)
    assert len(project.store.label_events()) == before  # flagged, not relabelled


def test_label_error_gate_blocks_training_and_the_cli_says_why(
    tmp_path: Path, project: Project, noisy_trec: tuple[Path, dict[str, str], set[str]]
) -> None:
    data, _, _ = noisy_trec
    strict = Project(parse_config(_raw(data, max_label_error_rate=0.01), base_dir=tmp_path), workdir=project.workdir)
    with pytest.raises(GateBlocked, match=r"max_label_error_rate: measured 0\.\d+ > threshold 0\.01"):
        strict.train()
    cfg_file = tmp_path / "strict.yaml"
    cfg_file.write_text(yaml.safe_dump(_raw(data, max_label_error_rate=0.01)))
    res = CliRunner().invoke(app, ["quality", "-c", str(cfg_file), "-w", str(project.workdir), "--json"])
    assert res.exit_code == ExitCode.GATE_BLOCKED
    body = json.loads(res.stdout)
    gate = next(g for g in body["gates"] if g["gate"] == "max_label_error_rate")
    assert gate["status"] == "fail" and gate["threshold"] == 0.01 and gate["value"] > 0.01
    assert body["blocked"] is True


def test_auto_labels_meet_the_target_and_the_audit_is_measured(
    project: Project, noisy_trec: tuple[Path, dict[str, str], set[str]]
) -> None:
    _, truth, _ = noisy_trec
    trained = project.train()
    result = project.auto_label(seed=0)
    test_items = [it for it in project.store.items(columns=("id", "split")) if it["split"] == "test"]
    assert result.model_version == trained.model_version and result.calibration_items == len(test_items)
    assert result.mode == "global"  # ~80 calibration items per class: too few for six per-class tests
    passing = {c: t for c, t in result.thresholds.items() if t["threshold"] is not None}
    assert passing, result.thresholds
    for t in passing.values():
        assert t["lower_bound"] >= 0.9 - 1e-9 and t["support"] >= 30
    events = [e for e in project.store.label_events() if e["source"] == "model"]
    assert len(events) == result.auto_labelled > 0
    assert all(e["model_version_id"] == trained.model_version and e["confidence"] >= 0.5 for e in events)
    ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
    precision = np.mean([truth[ext[e["item_id"]]] == e["label"] for e in events])
    assert precision >= 0.9, precision
    # Running it again labels nothing twice.
    assert project.auto_label(seed=0).auto_labelled == 0

    # The audit sample: a round of ceil(10%) of the auto-labelled items; people answer with the true labels.
    audit = project.store.round(result.audit_round_id)
    assert audit["strategy"] == "audit" and len(audit["picked_item_ids"]["item_ids"]) == int(
        np.ceil(0.1 * result.auto_labelled)
    )
    answers = [
        {
            "item_id": i,
            "label": truth[ext[i]],
            "source": "human",
            "annotator": "auditor@labelloop.test",
            "tool": "test",
            "external_id": f"audit:{i}",
            "round_id": result.audit_round_id,
        }
        for i in audit["picked_item_ids"]["item_ids"]
    ]
    project.store.append_label_events(answers)
    report = project.quality(label_errors=False).as_dict()["autolabel_audit"]
    by_item = {e["item_id"]: e["label"] for e in events}
    expected = np.mean([truth[ext[i]] == by_item[i] for i in audit["picked_item_ids"]["item_ids"]])
    assert report["audited"] == len(answers) and report["audit_precision"] == pytest.approx(expected)
