"""The README's main job on a small slice of TREC, against the session's real Label Studio: two runs, three turns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelloop.connectors.labelstudio import server
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.demo import DEMO_ANNOTATORS, run_demo


def test_demo_runs_two_rounds_with_two_annotators_and_continues_without_duplicates(
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
            "quality": {"gold": {"rate": 0.1}, "overlap": {"share": 0.5, "annotators": 2}},
            "labelstudio": {"data_dir": str(ls_server.data_dir), "port": ls_server.port, "project_key": project_key},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        first = run_demo(project, turns=2, gold_items=10)
        steps = [s["step"] for s in first.steps]
        turn = ["annotate", "pull", "train", "prelabel", "round"]
        assert steps == ["ingest", "gold", "prelabel", "round", *turn, *turn, "report"]
        assert first.accuracy_before is None and 0 < first.accuracy_after <= 1
        assert [r["state"] for r in project.store.rounds()] == ["pulled", "pulled", "pushed"]
        assert first.labelstudio_url.startswith(ls_server.url)
        annotators = {e["annotator"] for e in project.store.label_events() if e["source"] == "human"}
        assert annotators == set(DEMO_ANNOTATORS)
        page = Path(first.report).read_text()
        assert "Learning curve across rounds" in page and "annotator1@labelloop.local" in page

        second = run_demo(project, turns=1, gold_items=10)
        assert [s["step"] for s in second.steps] == ["ingest", *turn, "report"]
        assert second.steps[0]["added"] == 0
        assert second.accuracy_before == first.accuracy_after
        rounds = project.store.rounds()
        assert [r["state"] for r in rounds] == ["pulled", "pulled", "pulled", "pushed"]
        pushed = project.store.pushed_tasks()
        assert len(pushed) == len({p["item_id"] for p in pushed})
        gold = [i for r in rounds for i in r["picked_item_ids"].get("gold_item_ids", [])]
        assert gold and len(pushed) == 4 * 10 + len(gold)
        human = [e for e in project.store.label_events() if e["source"] == "human"]
        # Every pushed task of the three answered rounds has at least one answer; some (overlap) have two.
        answered = {e["item_id"] for e in human}
        assert answered == {i for r in rounds[:3] for i in r["picked_item_ids"]["item_ids"]}
        assert len({e["ext_annotation_id"] for e in human}) == len(human) > len(answered)
