"""Rounds through a real Label Studio, from the engine's side: select → push with pre-labels → annotate → pull.

Every pull case (new, edited, deleted, skipped, two annotators), idempotent re-push and re-pull, a push killed
half-way, a wrong token and a server that is down, with the store's counts compared before and after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.errors import LabelStudioAuthError, LabelStudioUnavailable
from labelloop.connectors.labelstudio.types import PreLabel, TaskToPush
from labelloop.engine.api import Project
from labelloop.engine.cli.main import app
from labelloop.engine.config import parse_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.rounds import pull, push_round

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
A, B = "ann.one@labelloop.test", "ann.two@labelloop.test"


def _config_dict(data: Path, key: str, url: str | None = None) -> dict:
    return {
        "project": "rounds",
        "task": {"labels": LABELS},
        "source": {"path": str(data), "label_field": "label", "split_field": "split"},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
        "rounds": {"strategy": "margin", "batch_size": 6},
        "labelstudio": {"url": url, "project_key": key, "token_env": "LL_TEST_LS_TOKEN"},
    }


@pytest.fixture
def project(tmp_path: Path, datasets_dir: Path, project_key: str, ls_server: server.ServerConfig) -> Project:
    """A project of 60 TREC questions: 30 train labelled, 20 train unlabelled, 10 test labelled; a model trained."""
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(50, random_state=1).copy()
    test = df[df.split == "test"].sample(10, random_state=1)
    train.loc[train.index[30:], "label"] = ""
    data = tmp_path / "trec60.csv"
    pd.concat([train, test]).to_csv(data, index=False)
    cfg = parse_config(_config_dict(data, project_key, ls_server.url), base_dir=tmp_path)
    p = Project(cfg, workdir=tmp_path / "w")
    p.init()
    p.ingest()
    p.train()
    p.prelabel()
    return p


def _task_count(client: LabelStudioClient, project_id: int) -> int:
    return len(client.pushed_item_ids(project_id))


def test_push_with_prelabels_is_recorded_and_idempotent(project: Project, ls_client: LabelStudioClient) -> None:
    rnd = project.select_round()
    assert len(rnd.item_ids) == 6 and rnd.strategy == "margin" and rnd.model_version
    first = push_round(project.store, ls_client, project.config, rnd.round_id)
    assert first.tasks == 6 and first.newly_recorded == 6 and first.with_prelabel == 6
    pid = first.ls_project_id
    assert project.store.round(rnd.round_id)["state"] == "pushed"
    assert ls_client.project_model_version(pid) == rnd.model_version

    again = push_round(project.store, ls_client, project.config, rnd.round_id)
    assert again.newly_recorded == 0 and _task_count(ls_client, pid) == 6
    recorded = project.store.pushed_tasks(pid)
    assert len(recorded) == 6 and all(r["prelabel"] in LABELS and r["prelabel_model_version"] for r in recorded)
    # The round record says what picked what.
    stored = project.store.round(rnd.round_id)
    assert stored["strategy"] == "margin" and stored["seed"] == rnd.seed
    assert stored["picked_item_ids"]["item_ids"] == rnd.item_ids


def test_push_killed_half_way_then_pushed_again_has_no_duplicates(
    project: Project, ls_client: LabelStudioClient
) -> None:
    rnd = project.select_round()
    pid = ensure_project(ls_client, project.config)
    texts = {it["id"]: it["text"] for it in project.store.items()}
    # The crash: half the tasks reached Label Studio, the store recorded nothing.
    half = [TaskToPush(i, texts[i], PreLabel("DESC", 0.5, rnd.model_version)) for i in rnd.item_ids[:3]]
    ls_client.push_tasks(pid, half)
    assert _task_count(ls_client, pid) == 3
    result = push_round(project.store, ls_client, project.config, rnd.round_id)
    assert _task_count(ls_client, pid) == 6
    assert result.newly_recorded == 6 and len(project.store.pushed_tasks(pid)) == 6


def test_pull_every_case(
    project: Project, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    store = project.store
    rnd = project.select_round()
    pushed = push_round(store, ls_client, project.config, rnd.round_id)
    pid = pushed.ls_project_id
    tasks = {t["item_id"]: t for t in store.pushed_tasks(pid)}
    items = rnd.item_ids
    t0, t1, t2, t3 = (tasks[i]["task_id"] for i in items[:4])
    kept = tasks[items[0]]["prelabel"]
    changed = next(x for x in LABELS if x != tasks[items[1]]["prelabel"])

    a0 = annotators[A].create_annotation(t0, kept, project_id=pid, lead_time_s=4.5)
    a1 = annotators[A].create_annotation(t1, changed, project_id=pid, lead_time_s=7.0)
    annotators[A].create_annotation(t2, None, project_id=pid, was_cancelled=True)
    annotators[B].create_annotation(t0, "NUM", project_id=pid, lead_time_s=3.0)
    a3 = annotators[B].create_annotation(t3, "LOC", project_id=pid)

    events_before = len(store.label_events())
    first = pull(store, ls_client, project.config)
    assert (first.new, first.skipped, first.edited, first.deleted) == (4, 1, 0, 0)
    assert first.annotators == sorted([A, B])
    human = [e for e in store.label_events() if e["source"] == "human"]
    assert len(human) == 5 == len(store.label_events()) - events_before
    e0 = next(e for e in human if e["ext_annotation_id"] == a0)
    assert (e0["annotator"], e0["tool"], e0["label"], e0["ext_task_id"]) == (A, "label-studio", kept, t0)
    assert e0["prelabel"] == kept and e0["prelabel_accepted"] is True and e0["lead_time_s"] == pytest.approx(4.5)
    assert e0["model_version_id"] == rnd.model_version and e0["round_id"] == rnd.round_id
    assert e0["tool_version"] == server.LABEL_STUDIO_VERSION
    e1 = next(e for e in human if e["ext_annotation_id"] == a1)
    assert e1["prelabel_accepted"] is False
    skip = next(e for e in human if e["ext_task_id"] == t2)
    assert skip["label"] is None and skip["extra"]["skipped"] is True

    # Pulling again: nothing new.
    again = pull(store, ls_client, project.config)
    assert again.events_written == 0 and again.changed_tasks == 0

    # An edit is a new event; history keeps both.
    annotators[A].update_annotation(a1, "HUM", project_id=pid)
    edited = pull(store, ls_client, project.config)
    assert (edited.edited, edited.new, edited.events_written) == (1, 0, 1)
    assert [e["label"] for e in store.label_events(items[1]) if e["source"] == "human"] == [changed, "HUM"]
    assert store.current_labels()[items[1]] == "HUM"

    # A deletion retracts; the item falls back to no human label.
    annotators[B].delete_annotation(a3)
    deleted = pull(store, ls_client, project.config)
    assert deleted.deleted == 1 and deleted.events_written == 1
    assert items[3] not in store.current_labels()
    assert pull(store, ls_client, project.config).events_written == 0
    assert store.round(rnd.round_id)["state"] == "pushed"  # items 4 and 5 are not answered yet


def test_wrong_token_is_a_clear_error_with_its_exit_code(
    project: Project, ls_server: server.ServerConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LL_TEST_LS_TOKEN", "0" * 40)
    before = project.store.counts()
    with pytest.raises(LabelStudioAuthError):
        project.pull()
    assert project.store.counts() == before
    cfg_file = tmp_path / "wrong-token.yaml"
    cfg_file.write_text(_yaml(project, ls_server.url))
    r = CliRunner().invoke(app, ["pull", "-c", str(cfg_file), "-w", str(project.workdir)])
    assert r.exit_code == ExitCode.AUTH_FAILED, r.output
    assert "401" in r.stderr or "token" in r.stderr.lower()


def test_server_down_records_nothing(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LL_TEST_LS_TOKEN", "1" * 40)
    closed = f"http://127.0.0.1:{server.free_port()}"
    cfg = project.config.model_copy(
        update={"labelstudio": project.config.labelstudio.model_copy(update={"url": closed})}
    )
    down = Project(cfg, workdir=project.workdir)
    before = project.store.counts()
    rounds_before = len(project.store.rounds())
    with pytest.raises(LabelStudioUnavailable):
        down.pull()
    assert project.store.counts() == before and len(project.store.rounds()) == rounds_before
    cfg_file = tmp_path / "down.yaml"
    cfg_file.write_text(_yaml(project, closed))
    r = CliRunner().invoke(app, ["pull", "-c", str(cfg_file), "-w", str(project.workdir)])
    assert r.exit_code == ExitCode.SERVICE_UNREACHABLE, r.output
    down.close()


def _yaml(project: Project, url: str) -> str:
    import yaml

    data = _config_dict(project.config.source.path, project.config.labelstudio.project_key, url)
    data["source"]["path"] = str(data["source"]["path"])
    assert os.environ.get("LL_TEST_LS_TOKEN")
    return yaml.safe_dump(data)


def test_every_round_gets_its_own_overlap_share(
    project: Project, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    """Half of each round's tasks ask for two annotators, later rounds included. (Label Studio's own project-wide
    cohort re-dealt its 50% over all tasks at each import, already-annotated ones first, so round 2 got ~none.)"""
    raw = project.config.model_dump(mode="json")
    raw["quality"]["overlap"] = {"share": 0.5, "annotators": 2}
    cfg = parse_config(raw, base_dir=project.workdir)  # validated like a YAML file
    store = project.store
    r1 = project.select_round()
    p1 = push_round(store, ls_client, cfg, r1.round_id)
    pid = p1.ls_project_id
    overlaps = ls_client.task_overlaps(pid)
    assert p1.overlap_tasks == 3 and sorted(overlaps[i] for i in r1.item_ids) == [1, 1, 1, 2, 2, 2]
    # round 1 gets annotated (one annotation per task), then round 2 is pushed
    tasks = {t["item_id"]: t["task_id"] for t in store.pushed_tasks(pid)}
    for i in r1.item_ids:
        annotators[A].create_annotation(tasks[i], "DESC", project_id=pid)
    pull(store, ls_client, cfg)
    r2 = project.select_round()
    assert not set(r2.item_ids) & set(r1.item_ids)
    p2 = push_round(store, ls_client, cfg, r2.round_id)
    after = ls_client.task_overlaps(pid)
    assert p2.overlap_tasks == 3 and sorted(after[i] for i in r2.item_ids) == [1, 1, 1, 2, 2, 2]
    assert {i: after[i] for i in r1.item_ids} == {i: overlaps[i] for i in r1.item_ids}  # round 1 untouched
    # a repeated push picks the same cohort and changes nothing
    again = push_round(store, ls_client, cfg, r2.round_id)
    assert again.overlap_tasks == 3 and ls_client.task_overlaps(pid) == after
