"""Ingest end to end on a real store (SQLite and PostgreSQL, see ``store_url``): bad rows quarantined with reasons
and lines, nothing lost, nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from labelloop.engine.api import Project
from labelloop.engine.config import parse_config

LABELS = ["pos", "neg"]


def _project(tmp_path: Path, source: Path, store_url: str, **privacy: object) -> Project:
    cfg = parse_config(
        {
            "project": "t",
            "store": {"url": store_url},
            "task": {"labels": LABELS},
            "source": {"path": str(source), "label_field": "label"},
            "ingest": {"max_text_chars": 100, "chunk_rows": 4},
            "privacy": {"redact": True, "spacy_model": None, "workers": 1, **privacy},
        },
        base_dir=tmp_path,
    )
    project = Project(cfg, workdir=tmp_path / "work")
    project.init()
    return project


def _mixed_jsonl(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """Good rows and one of each kind of bad row; returns the file and {line: expected reason}."""
    lines: list[bytes] = [
        json.dumps({"id": "g1", "text": "great film, loved it", "label": "pos"}).encode(),  # 1 good
        json.dumps({"id": "b1", "text": "   ", "label": "pos"}).encode(),  # 2 empty text
        b'{"id": "b2", "text": "broken json", "label": "pos"',  # 3 broken JSON
        b'{"id": "b3", "text": "caf\xe9 latin-1 bytes", "label": "neg"}',  # 4 invalid UTF-8
        json.dumps({"id": "b4", "text": "what a ride", "label": "meh"}).encode(),  # 5 unknown label
        json.dumps({"id": "b5", "text": "x" * 101, "label": "neg"}).encode(),  # 6 over-long
        json.dumps({"id": "g2", "text": "dull and far too long", "label": "neg"}).encode(),  # 7 good
        json.dumps({"id": "b6", "label": "neg"}).encode(),  # 8 missing text
        json.dumps({"id": "g3", "text": "mail me at jane.doe@example.com"}).encode(),  # 9 good, unlabelled
        json.dumps({"id": "g4", "text": "great   film,  loved it", "label": "pos"}).encode(),  # 10 duplicate of 1
    ]
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    bad = {
        2: "empty_text",
        3: "invalid_json",
        4: "invalid_utf8",
        5: "unknown_label",
        6: "text_too_long",
        8: "missing_text",
    }
    return p, bad


def test_mixed_file_every_row_accounted_for(tmp_path: Path, store_url: str) -> None:
    source, bad = _mixed_jsonl(tmp_path)
    with _project(tmp_path, source, store_url) as project:
        summary = project.ingest()
        q = project.store.quarantine()
        items = project.store.items()

    assert summary.rows_read == 10
    assert summary.items_added == 3 and summary.duplicates == 1 and summary.quarantined == len(bad)
    assert summary.rows_read == summary.items_added + summary.duplicates + summary.quarantined
    assert {r["line"]: r["reason"] for r in q} == bad
    assert all(r["source"] == str(source) and r["detail"] and r["raw_excerpt"] for r in q)
    assert next(r for r in q if r["line"] == 6)["detail"].startswith("text has 101 characters")
    assert [i["external_id"] for i in items] == ["g1", "g2", "g3"]
    assert [i["source_line"] for i in items] == [1, 7, 9]
    # PII is redacted before storage; the original is not kept unless configured.
    g3 = items[2]
    assert g3["text"] == "mail me at <EMAIL>" and g3["original_text"] is None
    assert g3["redactions"] == {"EMAIL": 1}


def test_source_labels_become_traceable_import_events(tmp_path: Path, store_url: str) -> None:
    source, _ = _mixed_jsonl(tmp_path)
    with _project(tmp_path, source, store_url) as project:
        project.ingest()
        events = project.store.label_events()
        items = {i["external_id"]: i["id"] for i in project.store.items()}
    # g1 and its duplicate g4 (line 10) both carried "pos": two import events on one item, one per file line.
    assert sorted((e["item_id"], e["label"], e["external_id"]) for e in events) == sorted(
        [
            (items["g1"], "pos", "import:mixed.jsonl#L1"),
            (items["g2"], "neg", "import:mixed.jsonl#L7"),
            (items["g1"], "pos", "import:mixed.jsonl#L10"),
        ]
    )
    assert {(e["source"], e["tool"], e["annotator"]) for e in events} == {
        ("import", "labelloop-ingest", "import:mixed.jsonl")
    }


def test_ingesting_the_same_file_twice_adds_nothing(tmp_path: Path, store_url: str) -> None:
    source, bad = _mixed_jsonl(tmp_path)
    with _project(tmp_path, source, store_url) as project:
        project.ingest()
        before = project.store.counts()
        again = project.ingest()
        after = project.store.counts()
    assert again.items_added == 0 and again.labels_imported == 0 and again.quarantine_new == 0
    assert again.quarantined == len(bad)  # still reported, not recorded twice
    assert (after.items, after.label_events, after.quarantined) == (
        before.items,
        before.label_events,
        before.quarantined,
    )
    assert after.ingest_runs == 2


def test_csv_with_bad_rows(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "mixed.csv"
    p.write_bytes(
        b"id,text,label\n"
        b"1,fine text,pos\n"
        b"2,,neg\n"
        b'3,"multi\nline text",neg\n'
        b"4,bad \xff byte,pos\n"
        b"5,extra,field,pos\n"
        b"6,unknown label,maybe\n"
    )
    with _project(tmp_path, p, store_url) as project:
        summary = project.ingest()
        q = {r["line"]: r["reason"] for r in project.store.quarantine()}
    assert q == {3: "empty_text", 6: "invalid_utf8", 7: "malformed_row", 8: "unknown_label"}
    assert summary.items_added == 2 and summary.rows_read == 6


def test_only_bad_rows_is_flagged(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": ""}\n{"nope": 1}\n')
    with _project(tmp_path, p, store_url) as project:
        summary = project.ingest()
    assert summary.only_bad_rows and summary.quarantined == 2


def test_parquet_source(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "in.parquet"
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["one", "", "three"], "label": ["pos", "neg", None]}).to_parquet(p)
    with _project(tmp_path, p, store_url) as project:
        summary = project.ingest()
        q = project.store.quarantine()
    assert (summary.items_added, summary.labels_imported, summary.quarantined) == (2, 1, 1)
    assert (q[0]["line"], q[0]["reason"]) == (2, "empty_text")


def test_original_text_kept_only_when_configured(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text('{"text": "write to bob@example.org"}\n')
    cfg = parse_config(
        {
            "project": "t",
            "store": {"url": store_url},
            "task": {"labels": LABELS},
            "source": {"path": str(p)},
            "ingest": {"store_original_text": True},
            "privacy": {"spacy_model": None, "workers": 1},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        project.ingest()
        item = project.store.items()[0]
    assert item["text"] == "write to <EMAIL>" and item["original_text"] == "write to bob@example.org"


@pytest.mark.integration
def test_trec_ingest_counts_add_up(tmp_path: Path, store_url: str, datasets_dir: Path) -> None:
    src = datasets_dir / "trec" / "trec.csv"
    truth = pd.read_csv(src, keep_default_na=False)
    cfg = parse_config(
        {
            "project": "trec",
            "store": {"url": store_url},
            "task": {"labels": sorted(truth["label"].unique())},
            "source": {"path": str(src), "label_field": "label", "split_field": "split"},
            "privacy": {"spacy_model": None, "workers": 1},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        s = project.ingest()
        counts = project.store.counts()
    assert s.rows_read == len(truth) == 5952
    assert s.quarantined == 0
    assert s.items_added + s.duplicates == len(truth)
    # duplicates are rows whose normalised text repeats an earlier row (TREC has some).
    assert s.duplicates == len(truth) - truth["text"].map(lambda t: " ".join(t.split())).nunique()
    assert counts.items == s.items_added and s.labels_imported == len(truth)
    assert set(counts.items_by_split) == {"train", "test"}


def test_label_splits_import_only_evaluation_labels(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "split.csv"
    p.write_text("id,text,label,split\n1,good one,pos,train\n2,bad one,neg,test\n3,fine one,pos,test\n")
    cfg = parse_config(
        {
            "project": "t",
            "store": {"url": store_url},
            "task": {"labels": LABELS},
            "source": {"path": str(p), "label_field": "label", "split_field": "split", "label_splits": ["test"]},
            "privacy": {"spacy_model": None, "workers": 1},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        s = project.ingest()
        labelled = {project.store.items()[i - 1]["external_id"] for i in project.store.current_labels()}
    assert (s.items_added, s.labels_imported, s.quarantined) == (3, 2, 0)
    assert labelled == {"2", "3"}


def test_metadata_values_are_redacted_like_the_text(tmp_path: Path, store_url: str) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text(
        json.dumps({"id": "m1", "text": "call me", "author": "ann@example.org", "stars": 4}) + "\n"
        + json.dumps({"id": "m2", "text": "fine", "author": "", "stars": 5}) + "\n"
    )  # fmt: skip
    cfg = parse_config(
        {
            "project": "t",
            "store": {"url": store_url},
            "task": {"labels": LABELS},
            "source": {"path": str(p), "metadata_fields": ["author", "stars"]},
            "privacy": {"spacy_model": None, "workers": 1},
        },
        base_dir=tmp_path,
    )
    with Project(cfg, workdir=tmp_path / "w") as project:
        project.init()
        summary = project.ingest()
        items = {it["external_id"]: it for it in project.store.items(columns=("external_id", "meta"))}
    assert items["m1"]["metadata"] == {"author": "<EMAIL>", "stars": 4}
    assert items["m2"]["metadata"] == {"author": "", "stars": 5}
    assert summary.redacted_entities == {"EMAIL": 1}
