"""`labelloop simulate` end to end on a slice of TREC (real encoder, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from labelloop.engine.cli.main import app


def test_simulate_cli_runs_strategies_against_random(tmp_path: Path, datasets_dir: Path) -> None:
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    part = pd.concat(
        [df[df.split == "train"].sample(300, random_state=0), df[df.split == "test"].sample(100, random_state=0)]
    )
    data = tmp_path / "trec400.csv"
    part.to_csv(data, index=False)
    args = [
        "simulate",
        str(data),
        "-s",
        "margin",
        "-s",
        "badge",
        "--split-field",
        "split",
        "--seed-size",
        "20",
        "--batch-size",
        "20",
        "--budget",
        "100",
        "--seeds",
        "2",
        "--cache",
        str(tmp_path / "cache"),
        "--json",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"random", "margin", "badge"} <= set(out["labels_to_target"])
    assert out["pool_size"] == 300 and out["test_size"] == 100
    assert 0 < out["full_accuracy"] <= 1
    bad = CliRunner().invoke(app, ["simulate", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2 and "dataset not found" in bad.stderr
