"""Dataset-version exports: every format reads back to the same rows and provenance columns; failed gates block an
export unless a reason is given, and a forced export records it."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.connectors.exports import (
    PROVENANCE_COLUMNS,
    SCHEMA,
    ExportBlocked,
    UnknownExporterError,
    available_exporters,
    dataset_table,
    export_dataset_version,
    label_provenance,
    sidecar_path,
)
from labelloop.engine.store.dataset_versions import ManifestRow

from .conftest import ORIGINAL_EMAIL


def _canon(value: Any, typ: pa.DataType) -> Any:
    """One form per value whatever the file format made of it (CSV: strings; JSON: ints may come back as floats)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    if pa.types.is_integer(typ):
        return int(float(value))
    if pa.types.is_floating(typ):
        return float(value)
    if pa.types.is_timestamp(typ):
        ts = pd.Timestamp(value)
        return (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).isoformat()
    return str(value)


def _canon_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f.name: _canon(r[f.name], f.type) for f in SCHEMA} for r in rows]


def _read_back(fmt: str, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    if fmt == "jsonl":
        df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        return df.astype(object).to_dict("records"), list(df.columns)
    if fmt == "csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        return df.to_dict("records"), list(df.columns)
    if fmt == "parquet":
        table = pq.read_table(path)
        assert table.schema.equals(SCHEMA, check_metadata=False)
        return table.to_pylist(), table.column_names
    if fmt == "hf":
        ds = datasets.load_from_disk(str(path))
        assert ds.data.table.schema.equals(SCHEMA, check_metadata=False)
        return ds.data.table.to_pylist(), ds.column_names
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_each_format_round_trips(dataset_project, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    expected, _, _ = dataset_table(p.project.store, p.project.workdir, p.v2)
    out = tmp_path / f"v2.{fmt}"
    result = export_dataset_version(p.project.store, p.project.workdir, p.v2, fmt, out)
    rows, columns = _read_back(fmt, out)
    assert columns == SCHEMA.names
    assert set(PROVENANCE_COLUMNS) <= set(columns) and "original_text" not in columns
    assert _canon_rows(rows) == _canon_rows(expected.to_pylist())
    if fmt in ("parquet", "hf"):  # typed formats: equal as they are, not only in canonical form
        assert rows == expected.to_pylist()
    assert result.rows == len(rows) == 4
    assert not any(ORIGINAL_EMAIL in (r["text"] or "") for r in rows)

    record = json.loads(sidecar_path(out).read_text())
    assert (record["dataset_version"], record["format"], record["rows"]) == (p.v2, fmt, 4)
    assert record["forced"] is None and record["gate_failures"] == []
    assert record["sha256"] == result.sha256
    if out.is_file():
        assert record["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    else:
        assert set(record["files"]) == {f.relative_to(out).as_posix() for f in out.rglob("*") if f.is_file()}
        for name, digest in record["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest

    again = export_dataset_version(p.project.store, p.project.workdir, p.v2, fmt, tmp_path / f"again.{fmt}")
    assert again.sha256 == result.sha256  # same version, same bytes


def test_provenance_is_the_event_behind_each_label(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    store, workdir = p.project.store, p.project.workdir
    v2 = {r["external_id"]: r for r in dataset_table(store, workdir, p.v2)[0].to_pylist()}
    assert set(v2) == {"a1", "a2", "a3", "a5"}
    a1 = v2["a1"]
    assert (a1["label"], a1["label_source"], a1["annotator"], a1["label_event_id"]) == (
        "neg",
        "human",
        "carol",
        p.events["a1_carol"],
    )
    assert (a1["tool"], a1["tool_version"], a1["model_version_id"], a1["confidence"]) == (
        "label-studio",
        "1.20.0",
        "mv-test",
        0.75,
    )
    assert isinstance(a1["event_at"], datetime) and a1["event_at"].tzinfo is not None
    assert a1["agreeing_events"] == 1  # the imported "pos" does not agree
    assert a1["round_id"] == p.events["round"]
    assert a1["text"] == "write to <EMAIL>, please"  # the redacted text, although the original is stored
    assert ORIGINAL_EMAIL in store.items(columns=("id", "original_text"))[0]["original_text"]
    # dave's agreeing label on a2 was recorded after both versions: not part of their provenance.
    assert (v2["a2"]["annotator"], v2["a2"]["label_event_id"], v2["a2"]["agreeing_events"]) == (
        "alice",
        p.events["a2_alice"],
        2,
    )
    assert (v2["a3"]["label_source"], v2["a3"]["annotator"], v2["a3"]["tool"]) == (
        "import",
        "import:in.csv",
        "labelloop-ingest",
    )
    assert v2["a3"]["text"] == "two\nlines" and v2["a2"]["text"] == 'rain, again and "again"'
    assert v2["a5"]["annotator"] == "import:more.csv"
    # v1 still shows bob's label on a4, retracted only after v1 was made.
    v1 = {r["external_id"]: r for r in dataset_table(store, workdir, p.v1)[0].to_pylist()}
    assert (v1["a4"]["label"], v1["a4"]["label_event_id"]) == ("neg", p.events["a4_bob"])
    assert (v1["a1"]["label"], v1["a1"]["label_source"], v1["a1"]["round_id"]) == ("pos", "import", None)


def test_rule_naming_a_source_prefers_its_events(dataset_project) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    events = p.project.store.label_events()
    a2 = p.ids["a2"]
    by_rule = {
        rule: label_provenance(events, [ManifestRow("h", a2, "neg", rule)], as_of=None)[a2]
        for rule in ("import", "consensus:dawid-skene", "gold")
    }
    assert by_rule["import"][0]["source"] == "import"
    assert by_rule["consensus:dawid-skene"][0]["annotator"] == "dave"  # no source of that name: the latest
    assert by_rule["gold"][0]["annotator"] == "dave"  # no gold event: the latest agreeing one
    assert {n for _, n in by_rule.values()} == {3}  # import, alice, dave


def test_edits_replace_and_skips_do_not() -> None:
    def ev(i: int, label: str | None, annotator: str = "x", **kw: Any) -> dict[str, Any]:
        return {"id": i, "item_id": 7, "label": label, "source": "human", "annotator": annotator, **kw}

    row = [ManifestRow("h", 7, "neg", "human")]
    edited = [ev(1, "neg"), ev(2, "pos")]
    assert label_provenance(edited, row, as_of=None)[7] == (None, 0)
    skipped = [ev(1, "neg"), ev(2, None)]
    event, n = label_provenance(skipped, row, as_of=None)[7]
    assert (event["id"], n) == (1, 1)
    retracted = [ev(1, "neg"), ev(2, "neg", "y"), ev(3, None, "y", retracts_event_id=2)]
    event, n = label_provenance(retracted, row, as_of=None)[7]
    assert (event["id"], n) == (1, 1)


def test_failed_gates_block_without_a_reason(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    out = tmp_path / "blocked.parquet"
    failures = ["min_gold_accuracy: measured 0.6000 < threshold 0.8", "min_agreement: measured 0.1 < threshold 0.4"]
    for reason in (None, "", "   "):
        with pytest.raises(ExportBlocked, match=r"blocked by 2 failed quality gate\(s\): min_gold_accuracy.*min_agr"):
            export_dataset_version(
                p.project.store, p.project.workdir, p.v2, "parquet", out, gate_failures=failures, force_reason=reason
            )
    assert not out.exists() and not sidecar_path(out).exists()
    assert list(tmp_path.iterdir()) == []


def test_forced_export_records_the_reason(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    out = tmp_path / "forced.jsonl"
    result = export_dataset_version(
        p.project.store,
        p.project.workdir,
        p.v1,
        "jsonl",
        out,
        gate_failures=["min_gold_accuracy: measured 0.6000 < threshold 0.8"],
        force_reason="  auditor asked for the raw labels  ",
    )
    gate = "min_gold_accuracy: measured 0.6000 < threshold 0.8"
    expected = {"reason": "auditor asked for the raw labels", "failed_gates": [gate]}
    assert result.forced == expected
    record = json.loads(sidecar_path(out).read_text())
    assert record["forced"] == expected and record["dataset_version"] == p.v1
    assert len(out.read_text().splitlines()) == 4


def test_unknown_format_and_existing_output(dataset_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = dataset_project
    assert available_exporters() == ["csv", "hf", "jsonl", "parquet"]
    with pytest.raises(UnknownExporterError, match="unknown export format 'xlsx'; known formats: csv, hf, jsonl"):
        export_dataset_version(p.project.store, p.project.workdir, p.v2, "xlsx", tmp_path / "x.xlsx")
    out = tmp_path / "v.csv"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="exists"):
        export_dataset_version(p.project.store, p.project.workdir, p.v2, "csv", out)
    assert out.read_text() == "keep me"
    export_dataset_version(p.project.store, p.project.workdir, p.v2, "csv", out, overwrite=True)
    assert out.read_text().startswith('"item","item_id"')
    hf = tmp_path / "hf"
    export_dataset_version(p.project.store, p.project.workdir, p.v1, "hf", hf)
    export_dataset_version(p.project.store, p.project.workdir, p.v2, "hf", hf, overwrite=True)
    assert set(datasets.load_from_disk(str(hf))["external_id"]) == {"a1", "a2", "a3", "a5"}
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temporary folder left
