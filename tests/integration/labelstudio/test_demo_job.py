"""The README's main job on a small slice of TREC, against the session's real Label Studio: two turns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelloop.connectors.labelstudio import server
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.demo import run_demo


def test_demo_runs_a_round_and_continues_without_duplicates(
    tmp_path: Path, datasets_dir: Path, ls_server: server.ServerConfig, project_key: str
) -> None:
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    part = pd.concat(
        [df[df.split == "train"].sample(120, random_state=3), df[df.split == "test"].sample(40, random_state=3)]
    )
    data = tmp_path / "trec160.csv"
    part.to_csv(data, index=False)
    cfg = parse_config(
        {
            "project": "demo-test",
            "task": {"labels": ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]},
            "source": {"path": str(data), "label_field": "label", "split_field": "split", "label_splits": ["test"]},
            "privacy": {"spacy_model": None, "workers": 1},
            "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
            "rounds": {"batch_size": 10},
            "labelstudio": {"data_dir": str(ls_server.data_dir), "port": ls_server.port, "project_key": project_key},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        first = run_demo(project)
        steps = [s["step"] for s in first.steps]
        assert steps == ["ingest", "prelabel", "round", "annotate", "pull", "train", "prelabel", "round"]
        assert first.accuracy_before is None and 0 < first.accuracy_after <= 1
        assert [r["state"] for r in project.store.rounds()] == ["pulled", "pushed"]
        assert first.labelstudio_url.startswith(ls_server.url)

        second = run_demo(project)
        assert [s["step"] for s in second.steps] == ["ingest", "annotate", "pull", "train", "prelabel", "round"]
        assert second.steps[0]["added"] == 0
        assert second.accuracy_before == first.accuracy_after
        rounds = project.store.rounds()
        assert [r["state"] for r in rounds] == ["pulled", "pulled", "pushed"]
        pushed = project.store.pushed_tasks()
        assert len(pushed) == len({p["item_id"] for p in pushed}) == 30
        human = [e for e in project.store.label_events() if e["source"] == "human"]
        assert len(human) == 20 and len({e["ext_annotation_id"] for e in human}) == 20
