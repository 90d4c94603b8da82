"""Budgets through the cycle and a real Label Studio (issue 10): a daily cap smaller than the strategy's batch pushes
exactly up to the cap and records the spend; once the day's cap is used, the cycle exits 11 and says why; the next
day's cycle resumes. The clock is ``LABELLOOP_CLOCK`` (the budget's clock), set to today and then to tomorrow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.config import load_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.loop import run_cycle

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
A = "ann.one@labelloop.test"
TOKEN_ENV = "LL_TEST_LS_TOKEN"


def test_cycle_pushes_up_to_the_cap_then_waits_for_the_next_period(
    tmp_path: Path,
    datasets_dir: Path,
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, server.admin_token(ls_server))
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(60, random_state=11).copy()
    test = df[df.split == "test"].sample(20, random_state=11)
    truth = dict(zip(pd.concat([train, test]).id.astype(str), pd.concat([train, test]).label, strict=True))
    train.loc[train.index[20:], "label"] = ""
    data = tmp_path / "trec80.csv"
    pd.concat([train, test]).to_csv(data, index=False)
    cfg_path = tmp_path / "budget.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "project": "budget",
                "task": {"labels": LABELS},
                "source": {"path": str(data), "label_field": "label", "split_field": "split"},
                "privacy": {"spacy_model": None, "workers": 1},
                "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                "rounds": {"strategy": "margin", "batch_size": 6},
                "labelstudio": {"url": ls_server.url, "project_key": project_key, "token_env": TOKEN_ENV},
                "ops": {"per_task_rate": 0.25, "currency": "EUR"},
                "budget": {"period": "day", "period_labels": 4},
            }
        )
    )
    with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
        p.init()
    today = dt.datetime.now(dt.UTC)
    monkeypatch.setenv("LABELLOOP_CLOCK", today.isoformat())

    def cycle() -> dict:
        with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
            return run_cycle(p, client=ls_client).as_dict()

    first = cycle()
    assert first["exit_code"] == ExitCode.OK, first
    steps = {s["step"]: s for s in first["steps"]}
    assert steps["select"]["counts"]["items"] == 4 and "budget: capped at 4 tasks" in steps["select"]["note"]
    assert steps["push"]["counts"]["tasks"] == 4
    assert first["budget"]["committed_answers"] == 4 and first["budget"]["tasks_allowed"] == 0
    with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
        pid = ensure_project(ls_client, p.config)
        assert len(ls_client.pushed_item_ids(pid)) == 4
        ext = {it["id"]: it["external_id"] for it in p.store.items(columns=("id", "external_id"))}
        tasks = {t["item_id"]: t["task_id"] for t in p.store.pushed_tasks(pid)}
    sim = SimulatedAnnotator({A: annotators[A]}, pid, LABELS, lead_time_s=(1.0, 2.0), seed=3)
    assert len(sim.annotate(tasks, {i: truth[ext[i]] for i in tasks})) == 4

    # Same day: the answers are pulled and the model retrains, but the day's 4 labels are spent: exit 11.
    second = cycle()
    assert second["exit_code"] == ExitCode.BUDGET_EXHAUSTED, second
    assert "period_labels 4, used 4" in second["message"] and "next period starts" in second["message"]
    assert {s["step"]: s["status"] for s in second["steps"]}["pull"] == "done"
    assert second["budget"]["answers_in_period"] == 4 and second["budget"]["spent"] == pytest.approx(4 * 0.25)
    with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
        assert p.status()["budget"]["tasks_allowed"] == 0
    assert len(ls_client.pushed_item_ids(pid)) == 4

    # Tomorrow: a new period, the cycle pushes again, up to the cap.
    monkeypatch.setenv("LABELLOOP_CLOCK", (today + dt.timedelta(days=1)).isoformat())
    third = cycle()
    assert third["exit_code"] == ExitCode.OK, third
    assert {s["step"]: s for s in third["steps"]}["push"]["counts"]["tasks"] == 4
    assert len(ls_client.pushed_item_ids(pid)) == 8
    assert third["budget"]["answers_in_period"] == 0 and third["budget"]["committed_answers"] == 4
