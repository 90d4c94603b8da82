"""`labelloop report` rendered in Debian's headless Chromium: the page opens from a file with no server, shows every
section with its figures, and carries no item text. Chromium must be installed (`make chromium-install`, part of
`make test`); its absence fails this test rather than skipping it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from labelloop.engine.api import Project
from labelloop.engine.cli.main import app
from labelloop.engine.reporting.screenshot import rendered_text

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Project:
    """120 labelled TREC train questions, 60 test; gold items answered by two annotators, some twice."""
    folder = tmp_path_factory.mktemp("report")
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    part = pd.concat(
        [df[df.split == "train"].sample(120, random_state=5), df[df.split == "test"].sample(60, random_state=5)]
    )
    part.to_csv(folder / "trec.csv", index=False)
    raw = {
        "project": "report-test",
        "task": {"labels": LABELS},
        "source": {"path": str(folder / "trec.csv"), "label_field": "label", "split_field": "split"},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
    }
    (folder / "report.yaml").write_text(yaml.safe_dump(raw))
    p = Project.from_config_file(folder / "report.yaml", workdir=folder / "w")
    p.init()
    p.ingest()
    p.add_gold(split="test", n=10, seed=0)
    live = {e["item_id"]: e["label"] for e in p.store.label_events() if e["source"] == "gold"}
    events = []
    for n, (item, label) in enumerate(sorted(live.items())):
        wrong = LABELS[(LABELS.index(label) + 1) % len(LABELS)]
        for who, answer in (("careful@x.test", label), ("hasty@x.test", wrong if n % 2 else label)):
            events.append(
                {
                    "item_id": item,
                    "label": answer,
                    "source": "human",
                    "annotator": who,
                    "tool": "test",
                    "external_id": f"t:{who}:{item}",
                    "round_id": None,
                    "lead_time_s": 5.0 + n,
                }
            )
    p.store.append_label_events(events)
    p.train(force_reason="report test: the failing gates are part of what the report shows")
    return p


def test_report_renders_in_chromium_with_every_section(project: Project, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    args = ["report", "--out", str(tmp_path / "out"), "--screenshot", str(screenshot), "--json"]
    res = CliRunner().invoke(app, [*args, "-c", str(project.config.config_path), "-w", str(project.workdir)])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["screenshot"] == str(screenshot)
    html_path, md_path = Path(result["html"]), Path(result["markdown"])
    dom = rendered_text(html_path)
    for title in (
        "Summary",
        "Learning curve across rounds",
        "Accuracy per model version",
        "Confusion matrix (serving model, evaluation split)",
        "Annotators: gold accuracy and agreement",
        "Operations: throughput, lead time, cost",
        "Drift: newest items vs the serving model's training data",
        "Quality gates",
    ):
        assert f"<h2>{title}</h2>" in dom, title
    assert "careful@x.test" in dom and "hasty@x.test" in dom
    assert "could not be computed" not in dom
    assert dom.count('src="data:image/png;base64,') >= 3  # learning curve, confusion matrix, gold accuracy
    texts = [it["text"] for it in project.store.items(columns=("text",))]
    assert not any(t in dom for t in texts if len(t) > 20)  # no item text in the report
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1200, 3000) and len(png) > 20_000
    md = md_path.read_text()
    assert "## Annotators: gold accuracy and agreement" in md and "| careful@x.test |" in md
