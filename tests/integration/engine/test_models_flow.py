"""Train → model version → pre-label, through the store, with the real all-MiniLM-L6-v2 encoder (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.prelabel import probabilities
from labelloop.engine.training import NotEnoughLabels
from labelloop.models.versions import load_model

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


@pytest.fixture(scope="module")
def trec_subset(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """240 TREC rows: 160 train (labels kept on 100), 40 more train rows held back, 40 test (labelled)."""
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(200, random_state=0)
    test = df[df.split == "test"].sample(40, random_state=0)
    first = pd.concat([train.iloc[:160], test]).copy()
    first.loc[first.index[100:160], "label"] = ""  # 60 unlabelled train rows
    folder = tmp_path_factory.mktemp("trec")
    first.to_csv(folder / "part1.csv", index=False)
    extra = train.iloc[160:].copy()
    extra["label"] = ""
    extra.to_csv(folder / "part2.csv", index=False)
    return folder


def _project(tmp_path: Path, data: Path, **model: object) -> Project:
    cfg = parse_config(
        {
            "project": "flow",
            "task": {"labels": LABELS},
            "source": {"path": str(data / "part1.csv"), "label_field": "label", "split_field": "split"},
            "privacy": {"spacy_model": None, "workers": 1},
            "model": {"compute": {"backend": "inprocess"}, "head": {"min_calibration_labels": 50}, **model},
        },
        base_dir=tmp_path,
    )
    project = Project(cfg, workdir=tmp_path / "w")
    project.init()
    project.ingest()
    return project


def test_prelabel_without_a_model_embeds_only(tmp_path: Path, trec_subset: Path) -> None:
    with _project(tmp_path, trec_subset) as project:
        result = project.prelabel()
    assert result.model_version is None and result.predictions_written == 0
    assert result.candidates == 60 and result.embedded == 60
    assert "no model yet" in result.note


def test_train_prelabel_cache_and_versions(tmp_path: Path, trec_subset: Path) -> None:
    with _project(tmp_path, trec_subset) as project:
        trained = project.train()
        assert trained.model_version.startswith("mv-") and trained.serving and trained.created
        assert trained.train_items + trained.calibration_items == 100 and trained.eval_items == 40
        m = trained.metrics
        assert 0.4 < m["accuracy"] <= 1.0 and 0 <= m["macro_f1"] <= 1 and 0 <= m["ece"] <= 1
        assert m["calibration"] == "temperature" and "ece_uncalibrated" in m

        row = project.model(trained.model_version)
        assert row["status"] == "serving" and row["dataset_version_id"] == trained.dataset_version
        assert Path(row["artifact_path"], "model.joblib").is_file()

        first = project.prelabel()
        assert first.candidates == 60 and first.predictions_written == 60
        assert first.embedded == 60 and first.cache_hits == 0  # training embedded only labelled items
        preds = project.store.predictions(trained.model_version)
        assert len(preds) == 60
        for p in preds:
            probs = probabilities(p)
            assert probs.shape == (6,) and abs(float(probs.sum()) - 1) < 1e-4
            assert p["label"] == LABELS[int(probs.argmax())] and p["score"] == pytest.approx(float(probs.max()))

        again = project.prelabel()
        assert (again.candidates, again.embedded, again.predictions_written) == (0, 0, 0)

        # 10% more items: only they are embedded.
        project.ingest(trec_subset / "part2.csv")
        more = project.prelabel()
        assert (more.candidates, more.embedded, more.predictions_written) == (40, 40, 40)

        # Same labels → same dataset version → same model version, nothing new.
        retrained = project.train()
        assert retrained.model_version == trained.model_version and not retrained.created


def test_reloaded_model_predicts_bit_identically(tmp_path: Path, trec_subset: Path) -> None:
    with _project(tmp_path, trec_subset) as project:
        trained = project.train()
        folder = Path(project.model(trained.model_version)["artifact_path"])
    X = np.random.default_rng(0).normal(size=(16, 384)).astype(np.float32)
    a = load_model(folder).predict_proba(X)
    b = load_model(folder).predict_proba(X)
    assert a.tobytes() == b.tobytes()


def test_train_needs_two_classes(tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("id,text,label\n1,What is a dog ?,ENTY\n2,Who was Lincoln ?,\n")
    cfg = parse_config(
        {
            "project": "one",
            "task": {"labels": LABELS},
            "source": {"path": str(data), "label_field": "label"},
            "privacy": {"spacy_model": None, "workers": 1},
            "model": {"compute": {"backend": "inprocess"}},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        project.ingest()
        with pytest.raises(NotEnoughLabels, match="at least 2 classes"):
            project.train()


def test_cli_train_prelabel_models(tmp_path: Path, trec_subset: Path) -> None:
    import json

    import yaml
    from typer.testing import CliRunner

    from labelloop.engine.cli.main import app

    cfg = tmp_path / "labelloop.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "project": "cli-models",
                "task": {"labels": LABELS},
                "source": {"path": str(trec_subset / "part1.csv"), "label_field": "label", "split_field": "split"},
                "privacy": {"spacy_model": None, "workers": 1},
                "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
            }
        )
    )
    run = CliRunner()
    base = ["-c", str(cfg), "-w", str(tmp_path / "w"), "--json"]
    assert run.invoke(app, ["init", *base]).exit_code == 0
    assert run.invoke(app, ["ingest", *base]).exit_code == 0
    r = run.invoke(app, ["train", *base])
    assert r.exit_code == 0, r.output
    version = json.loads(r.stdout)["model_version"]
    r = run.invoke(app, ["prelabel", *base])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["predictions_written"] == 60
    listed = json.loads(run.invoke(app, ["models", "list", *base]).stdout)["models"]
    assert [m["id"] for m in listed] == [version] and listed[0]["status"] == "serving"
    shown = json.loads(run.invoke(app, ["models", "show", version, *base]).stdout)
    assert shown["dataset_version_id"].startswith("ds-") and "accuracy" in shown["metrics"]
    missing = run.invoke(app, ["models", "show", "mv-nope", *base])
    assert missing.exit_code == 2 and "no model version 'mv-nope'" in missing.stderr


def test_round_by_strategy_name_records_strategy_params_and_seed(tmp_path: Path, trec_subset: Path) -> None:
    strategies = {
        "badge": {},
        "margin": {},
        "coreset": {},
        "typiclust": {},
        "class-balanced": {"base": {"name": "margin", "params": {}}},
    }
    with _project(tmp_path, trec_subset) as project:
        project.train()
        labelled = set(project.store.current_labels())
        for strategy, params in strategies.items():
            rnd = project.select_round(strategy=strategy, params=params, k=7, seed=11)
            again = project.select_round(strategy=strategy, params=params, k=7, seed=11)
            stored = project.store.round(rnd.round_id)
            assert len(set(rnd.item_ids)) == 7 and rnd.item_ids == again.item_ids, strategy
            assert (stored["strategy"], stored["seed"]) == (strategy, 11)
            assert stored["params"] == rnd.params and stored["picked_item_ids"]["item_ids"] == rnd.item_ids
            assert not labelled & set(rnd.item_ids)


def test_cli_round_unknown_strategy_lists_known_ones(tmp_path: Path, trec_subset: Path) -> None:
    from typer.testing import CliRunner

    from labelloop.engine.cli.main import app

    with _project(tmp_path, trec_subset) as project:
        project.train()
        cfg_path = tmp_path / "c.yaml"
        import yaml

        cfg_path.write_text(yaml.safe_dump(project.config.model_dump(mode="json", exclude={"config_path"})))
        r = CliRunner().invoke(
            app, ["round", "--strategy", "nope", "--no-push", "-c", str(cfg_path), "-w", str(project.workdir)]
        )
        assert r.exit_code == 2 and "badge" in r.stderr and "margin" in r.stderr
        r = CliRunner().invoke(
            app,
            [
                "round",
                "--strategy",
                "badge",
                "--k",
                "5",
                "--no-push",
                "--json",
                "-c",
                str(cfg_path),
                "-w",
                str(project.workdir),
            ],
        )
        assert r.exit_code == 0, r.output
        assert '"strategy": "badge"' in r.stdout


def test_graph_logreg_head_learns_from_the_unlabeled_pool(tmp_path: Path, trec_subset: Path) -> None:
    with _project(tmp_path, trec_subset, head={"name": "graph-logreg", "calibration": "none"}) as project:
        trained = project.train()
        assert trained.metrics["unlabeled_pool"]["items"] == 60  # the unlabelled train rows; test rows stay out
        preds = project.prelabel()
        assert preds.predictions_written == 60 and 0.3 < trained.metrics["accuracy"] <= 1.0
        # more unlabeled items change what the head learns from: a new model version for the same labels
        project.ingest(trec_subset / "part2.csv")
        again = project.train()
        assert again.metrics["unlabeled_pool"]["items"] == 100
        assert again.model_version != trained.model_version and again.dataset_version == trained.dataset_version
