"""Label quality through a real Label Studio: gold items mixed into rounds, overlap, agreement, the gates, and the
review queue (issue 7).

Three simulated annotators label TREC questions: two accurate, one noisy. Gold accuracy and pairwise agreement
must tell the noisy one apart; once the noisy one does most of the labeling, the gold gate blocks the retrain
(exit code 8) until it is forced with a recorded reason. A disputed item goes to the review project, and the
reviewer's decision comes back as an ``adjudication`` event that settles it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.cli.main import app
from labelloop.engine.config import parse_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project, ensure_review_project
from labelloop.engine.quality.gates import GateBlocked

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
GOOD_A, NOISY, GOOD_C = "ann.one@labelloop.test", "ann.two@labelloop.test", "ann.three@labelloop.test"


def _config(data: Path, key: str, url: str, *, overlap_share: float) -> dict:
    return {
        "project": "quality",
        "task": {"labels": LABELS},
        "source": {"path": str(data), "label_field": "label", "split_field": "split", "label_splits": ["test"]},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
        "rounds": {"strategy": "margin", "batch_size": 8, "cold_start_strategy": "kmeans"},
        "labelstudio": {"url": url, "project_key": key, "token_env": "LL_TEST_LS_TOKEN"},
        "quality": {
            "gold": {"rate": 0.5},
            "overlap": {"share": overlap_share, "annotators": 3},
            "adjudication": {"method": "majority", "review_below": 0.5},
            "gates": {
                "min_gold_accuracy": 0.6,
                "min_gold_answers": 5,
                "min_agreement": None,
                "max_label_error_rate": None,
            },
        },
    }


@pytest.fixture
def trec_file(tmp_path: Path, datasets_dir: Path) -> tuple[Path, dict[str, str]]:
    """80 train questions without labels, 40 test questions with theirs; and every question's true label."""
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(80, random_state=3).copy()
    test = df[df.split == "test"].sample(40, random_state=3)
    truth = dict(zip(pd.concat([train, test]).id.astype(str), pd.concat([train, test]).label, strict=True))
    train["label"] = ""
    path = tmp_path / "trec120.csv"
    pd.concat([train, test]).to_csv(path, index=False)
    return path, truth


def _annotate(
    project: Project,
    client: LabelStudioClient,
    clients: dict[str, LabelStudioClient],
    truth: dict[str, str],
    *,
    round_id: int,
    error_rate: dict[str, float],
    seed: int,
) -> int:
    pid = ensure_project(client, project.config)
    rnd = project.store.round(round_id)
    wanted = set(rnd["picked_item_ids"]["item_ids"])
    tasks = {t["item_id"]: t["task_id"] for t in project.store.pushed_tasks(pid) if t["item_id"] in wanted}
    overlaps = client.task_overlaps(pid)
    ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
    sim = SimulatedAnnotator(clients, pid, LABELS, error_rate=error_rate, seed=seed)
    done = sim.annotate(tasks, {i: truth[ext[i]] for i in tasks}, annotators_per_task={i: overlaps[i] for i in tasks})
    return len(done)


def test_gold_and_agreement_separate_annotators_and_gate_blocks_noisy_majority(
    tmp_path: Path,
    trec_file: tuple[Path, dict[str, str]],
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
) -> None:
    data, truth = trec_file
    cfg = parse_config(_config(data, project_key, ls_server.url, overlap_share=1.0), base_dir=tmp_path)
    project = Project(cfg, workdir=tmp_path / "w")
    project.init()
    project.ingest()
    assert project.add_gold(split="test", n=20, seed=0)["added"] == 20
    everyone = {e: connect(ls_server.url, server.ensure_user(e, ls_server)) for e in (GOOD_A, NOISY, GOOD_C)}

    # Round 1: every task to all three; gold items mixed in (8 picks + 8 gold, shuffled).
    rnd = project.select_round()
    gold_ids = project.store.round(rnd.round_id)["picked_item_ids"]["gold_item_ids"]
    assert len(gold_ids) == 8 and set(gold_ids) < set(rnd.item_ids) and rnd.item_ids[:8] != gold_ids
    project.push_round(rnd.round_id, client=ls_client)
    n = _annotate(
        project, ls_client, everyone, truth, round_id=rnd.round_id,
        error_rate={GOOD_A: 0.0, NOISY: 0.9, GOOD_C: 0.0}, seed=1,
    )  # fmt: skip
    assert n == 16 * 3
    project.pull(client=ls_client)

    report = project.quality(label_errors=False).as_dict()
    gold = report["gold"]["per_annotator"]
    assert gold[GOOD_A]["accuracy"] == 1.0 and gold[GOOD_C]["accuracy"] == 1.0
    assert gold[NOISY]["accuracy"] <= 0.5 and gold[NOISY]["answers"] == 8
    pairs = report["agreement"]["pairs"]
    good_pair = pairs[" | ".join(sorted([GOOD_A, GOOD_C]))]["cohen_kappa"]
    noisy_pairs = [v["cohen_kappa"] for k, v in pairs.items() if NOISY in k]
    assert good_pair == pytest.approx(1.0) and max(noisy_pairs) < 0.5
    assert report["agreement"]["overlap_items"] == 16
    # The two accurate annotators outvote the noisy one: disputes resolve to the true label, none go to review.
    ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
    live, resolution = report["resolution"], project.quality(label_errors=False).resolution
    assert live["review_queue"] == []
    for item in rnd.item_ids:
        assert resolution.labels[item].label == truth[ext[item]]
    gates = {g["gate"]: g for g in report["gates"]}
    assert gates["min_gold_accuracy"]["status"] == "pass"
    first = project.train()
    assert first.metrics["gates"][0]["gate"] == "min_gold_accuracy"

    # Round 2: one annotator per task, and it is the noisy one: gold accuracy falls below the gate.
    cfg2 = parse_config(_config(data, project_key, ls_server.url, overlap_share=0.0), base_dir=tmp_path)
    project2 = Project(cfg2, workdir=tmp_path / "w")
    project2.prelabel()
    rnd2 = project2.select_round()
    project2.push_round(rnd2.round_id, client=ls_client)
    _annotate(project2, ls_client, {NOISY: everyone[NOISY]}, truth, round_id=rnd2.round_id,
              error_rate={NOISY: 0.9}, seed=2)  # fmt: skip
    project2.pull(client=ls_client)
    report2 = project2.quality(label_errors=False).as_dict()
    assert report2["gold"]["accuracy"] < 0.6 < report["gold"]["accuracy"]
    with pytest.raises(GateBlocked, match=r"min_gold_accuracy: measured 0\.\d+ < threshold 0\.6"):
        project2.train()
    models_before = len(project2.models())

    cfg_file = tmp_path / "quality.yaml"
    cfg_file.write_text(yaml.safe_dump(_config(data, project_key, ls_server.url, overlap_share=0.0)))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "-c", str(cfg_file), "-w", str(tmp_path / "w")])
    assert res.exit_code == ExitCode.GATE_BLOCKED, res.output
    res = runner.invoke(app, ["quality", "-c", str(cfg_file), "-w", str(tmp_path / "w"), "--no-label-errors"])
    assert res.exit_code == ExitCode.GATE_BLOCKED and "min_gold_accuracy" in res.output
    assert len(project2.models()) == models_before  # nothing was trained
    forced = project2.train(force_reason="noisy batch accepted for a smoke test")
    assert forced.metrics["forced_past_gates"] == {
        "reason": "noisy batch accepted for a smoke test",
        "failed": ["min_gold_accuracy"],
    }


def test_dispute_goes_to_review_and_the_decision_settles_it(
    tmp_path: Path,
    trec_file: tuple[Path, dict[str, str]],
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
) -> None:
    data, _ = trec_file
    raw = _config(data, project_key, ls_server.url, overlap_share=1.0)
    raw["quality"]["gold"]["rate"] = 0.0
    cfg = parse_config(raw, base_dir=tmp_path)
    project = Project(cfg, workdir=tmp_path / "w")
    project.init()
    project.ingest()
    rnd = project.select_round(k=2)
    project.push_round(rnd.round_id, client=ls_client)
    pid = ensure_project(ls_client, cfg)
    tasks = {t["item_id"]: t["task_id"] for t in project.store.pushed_tasks(pid)}
    disputed, agreed = rnd.item_ids
    (a, a_client), (b, b_client) = sorted(annotators.items())
    a_client.create_annotation(tasks[disputed], "HUM", project_id=pid)
    b_client.create_annotation(tasks[disputed], "LOC", project_id=pid)
    a_client.create_annotation(tasks[agreed], "NUM", project_id=pid)
    b_client.create_annotation(tasks[agreed], "NUM", project_id=pid)
    project.pull(client=ls_client)

    resolution = project.quality(label_errors=False).resolution
    assert disputed in resolution.review and disputed not in resolution.labels
    assert resolution.review[disputed].votes == {a: "HUM", b: "LOC"}
    assert resolution.labels[agreed].label == "NUM"

    pushed = project.push_review(client=ls_client)
    assert (pushed.disputed, pushed.newly_recorded) == (1, 1)
    assert project.push_review(client=ls_client).newly_recorded == 0  # idempotent
    rid = ensure_review_project(ls_client, cfg)
    review_tasks = ls_client._list_tasks(rid, "id,data", None)
    assert len(review_tasks) == 1
    context = review_tasks[0]["data"]["context"]
    assert "HUM" in context and "LOC" in context and a in context

    ls_client.create_annotation(int(review_tasks[0]["id"]), "LOC", project_id=rid)  # the reviewer decides
    pulled = project.pull_review(client=ls_client)
    assert pulled.new == 1
    events = [e for e in project.store.label_events(disputed) if e["source"] == "adjudication"]
    assert len(events) == 1 and events[0]["label"] == "LOC" and events[0]["tool"] == "label-studio"
    after = project.quality(label_errors=False).resolution
    assert disputed not in after.review
    assert (after.labels[disputed].label, after.labels[disputed].rule) == ("LOC", "adjudication")
