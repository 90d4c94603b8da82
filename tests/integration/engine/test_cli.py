"""The CLI's contract: JSON output for machines and documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.engine.cli.main import app
from labelloop.engine.exit_codes import ExitCode

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "in.csv"
    data.write_text("id,text,label\n1,a fine day,pos\n2,,neg\n3,rain again,neg\n")
    cfg = tmp_path / "labelloop.yaml"
    cfg.write_text(
        "project: cli-test\nworkdir: state\ntask:\n  labels: [pos, neg]\n"
        "source:\n  path: in.csv\n  label_field: label\nprivacy:\n  spacy_model: null\n  workers: 1\n"
    )
    return cfg


def _json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def test_init_ingest_status_json(config: Path) -> None:
    r = runner.invoke(app, ["init", "-c", str(config), "--json"])
    assert r.exit_code == ExitCode.OK, r.output
    assert _json(r)["project"] == "cli-test"

    r = runner.invoke(app, ["ingest", "-c", str(config), "--json"])
    assert r.exit_code == ExitCode.OK, r.output
    summary = _json(r)
    assert (summary["rows_read"], summary["items_added"], summary["quarantined"]) == (3, 2, 1)
    assert summary["quarantine_by_reason"] == {"empty_text": 1}

    r = runner.invoke(app, ["status", "-c", str(config), "--json"])
    assert r.exit_code == ExitCode.OK, r.output
    status = _json(r)
    assert (status["items"], status["labelled_items"], status["quarantined"]) == (2, 2, 1)
    assert status["labels_by_class"] == {"neg": 1, "pos": 1}


def test_human_output_is_a_table(config: Path) -> None:
    runner.invoke(app, ["init", "-c", str(config)])
    r = runner.invoke(app, ["status", "-c", str(config)])
    assert r.exit_code == ExitCode.OK
    assert "labelloop project cli-test" in r.stdout and "quarantined rows" in r.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("project: x\ntask:\n  labels: [a, b]\n  colour: red\n")
    r = runner.invoke(app, ["status", "-c", str(cfg)])
    assert r.exit_code == ExitCode.BAD_INPUT
    assert "task.colour: unknown key" in r.stderr


def test_missing_source_file_exits_2(config: Path) -> None:
    runner.invoke(app, ["init", "-c", str(config)])
    r = runner.invoke(app, ["ingest", str(config.parent / "nope.csv"), "-c", str(config)])
    assert r.exit_code == ExitCode.BAD_INPUT
    assert "source file not found" in r.stderr


def test_status_before_init_exits_4(config: Path) -> None:
    r = runner.invoke(app, ["status", "-c", str(config)])
    assert r.exit_code == ExitCode.STORE_UNAVAILABLE
    assert "labelloop init" in r.stderr


def test_only_bad_rows_exits_3_with_reasons(config: Path) -> None:
    runner.invoke(app, ["init", "-c", str(config)])
    bad = config.parent / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": "maybe"}\n{"text": "x"\n')
    r = runner.invoke(app, ["ingest", str(bad), "-c", str(config)])
    assert r.exit_code == ExitCode.NO_VALID_ROWS
    assert "all 2 rows were quarantined" in r.stderr
    assert "line 1: unknown_label" in r.stderr and "line 2: invalid_json" in r.stderr
