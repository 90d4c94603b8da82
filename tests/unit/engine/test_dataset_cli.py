"""`labelloop dataset list|diff|export`: JSON for machines, tables for people, exit code 8 when a gate blocks."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from labelloop.engine.cli.main import app
from labelloop.engine.exit_codes import ExitCode

runner = CliRunner()


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["dataset", *args])


def test_list(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    r = _run("list", "-c", str(p.config), "--json")
    assert r.exit_code == ExitCode.OK, r.output
    versions = json.loads(r.stdout)["versions"]
    assert [(v["id"], v["n_items"]) for v in versions] == [(p.v1, 4), (p.v2, 4)]
    r = _run("list", "-c", str(p.config))
    assert r.exit_code == ExitCode.OK and "dataset versions" in r.stdout and p.v2 in r.stdout


def test_diff_json_and_table(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    r = _run("diff", p.v1, p.v2, "-c", str(p.config), "--json")
    assert r.exit_code == ExitCode.OK, r.output
    d = json.loads(r.stdout)
    assert d["counts"] == {"added": 1, "removed": 1, "relabelled": 1, "unchanged": 2}
    assert [(x["item_id"], x["old"], x["new"]) for x in d["relabelled"]] == [(p.ids["a1"], "pos", "neg")]
    r = _run("diff", p.v1, p.v2, "-c", str(p.config))
    assert r.exit_code == ExitCode.OK
    assert "1 added, 1 removed, 1 relabelled, 2 unchanged" in r.stdout
    assert all(title in r.stdout for title in ("added", "removed", "relabelled"))
    r = _run("diff", p.v1, "ds-missing", "-c", str(p.config))
    assert r.exit_code == ExitCode.BAD_INPUT
    assert "unknown dataset version 'ds-missing'" in r.stderr


def test_export_with_gates_measured_now(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    out = tmp_path / "v2.parquet"
    r = _run("export", p.v2, "--format", "parquet", "--out", str(out), "-c", str(p.config), "--json")
    assert r.exit_code == ExitCode.OK, r.output
    d = json.loads(r.stdout)
    assert (d["rows"], d["forced"], d["gates_from"]) == (4, None, "measured now on the current labels")
    assert out.is_file() and Path(d["sidecar"]).is_file()

    # The same store under a stricter gate: 5 labels per class needed, 3 neg and 2 pos present.
    strict = p.config.with_name("strict.yaml")
    strict.write_text(p.config.read_text().replace("min_labels_per_class: 1", "min_labels_per_class: 5"))
    blocked = tmp_path / "blocked.csv"
    r = _run("export", p.v2, "-f", "csv", "-o", str(blocked), "-c", str(strict))
    assert r.exit_code == ExitCode.GATE_BLOCKED, r.output
    assert "blocked by 1 failed quality gate(s): min_labels_per_class" in r.stderr
    assert not blocked.exists()


def test_export_blocked_by_recorded_gates_then_forced(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    detail = "min_gold_accuracy: measured 0.5000 < threshold 0.8"
    p.project.store.add_model_version(
        {
            "id": "mv-recorded",
            "encoder_fingerprint": "f",
            "head": "logreg",
            "dataset_version_id": p.v1,
            "train_identity": p.v1,
            "metrics": {"gates": [{"gate": "min_gold_accuracy", "status": "fail", "detail": detail}]},
            "artifact_path": str(tmp_path / "none"),
        }
    )
    out = tmp_path / "v1"
    args = ["export", p.v1, "-f", "hf", "-o", str(out), "-c", str(p.config)]
    r = _run(*args)
    assert r.exit_code == ExitCode.GATE_BLOCKED
    assert detail in r.stderr and "--force-reason" in r.stderr
    assert not out.exists()

    r = _run(*args, "--force-reason", "legal hold copy", "--json")
    assert r.exit_code == ExitCode.OK, r.output
    d = json.loads(r.stdout)
    assert d["forced"] == {"reason": "legal hold copy", "failed_gates": [detail]}
    assert d["gates_from"] == "recorded when model mv-recorded was trained on it"
    record = json.loads(Path(d["sidecar"]).read_text())
    assert record["forced"]["reason"] == "legal hold copy" and record["rows"] == 4

    r = _run(*args, "--force-reason", "again")
    assert r.exit_code == ExitCode.BAD_INPUT and "exists" in r.stderr
    r = _run(*args, "--force-reason", "again", "--overwrite")
    assert r.exit_code == ExitCode.OK, r.output
    assert f"exported {p.v1} as hf: 4 rows" in r.stdout
    assert "forced past failed gates (recorded when model mv-recorded was trained on it): again" in r.stdout
    assert detail in r.stdout
    r = _run("list", "-c", str(p.config), "--json")
    assert {v["id"]: v["models"] for v in json.loads(r.stdout)["versions"]}[p.v1] == ["mv-recorded"]


def test_unknown_format_exits_2(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    r = _run("export", p.v2, "-f", "xlsx", "-o", str(tmp_path / "x"), "-c", str(p.config))
    assert r.exit_code == ExitCode.BAD_INPUT
    assert "unknown export format 'xlsx'; known formats: csv, hf, jsonl, parquet" in r.stderr
