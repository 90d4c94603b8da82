"""The versioned taxonomy through a real Label Studio (issue 10, items 1–3).

Every migration kind (rename, merge, add, retire, split) against a project with annotations: the project's labels,
hints and instructions follow; a label still used is never dropped unless the migration maps it; old events are
never rewritten but read under the new names; a split's items are re-queued as fresh tasks and resolve again once
relabelled; a dataset version made before the migrations rebuilds bit-identically after them. Then a round where
one annotator flags items ambiguous with comments, and the report's triage section.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labelloop.connectors.exports.dataset import dataset_table
from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.config import AMBIGUOUS, COMMENT_NAME, FLAG_NAME, LabelSchema
from labelloop.connectors.labelstudio.errors import ProjectConfigMismatch
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.quality.assess import resolve_store
from labelloop.engine.quality.triage import triage_queue
from labelloop.engine.reporting.report import build_report
from labelloop.engine.rounds import pull, push_round
from labelloop.engine.taxonomy.history import TaxonomyHistory
from labelloop.engine.taxonomy.migrate import REQUEUE_STRATEGY, migrate
from labelloop.engine.taxonomy.reproduce import reproduce_dataset
from labelloop.engine.taxonomy.schema import Migration, TaxonomyError
from labelloop.engine.training import snapshot_labels

pytestmark = pytest.mark.integration

A, B = "ann.one@labelloop.test", "ann.two@labelloop.test"
TAXONOMY = [
    {"name": "ABBR", "definition": "The question asks what an abbreviation stands for."},
    {
        "name": "DESC",
        "definition": "A description, definition, manner or reason.",
        "examples": {"positive": ["What is a golf handicap?"], "negative": ["Who wrote Hamlet?"]},
    },
    {"name": "ENTY", "definition": "An entity: animal, product, colour, food, term ..."},
    {"name": "HUM", "definition": "A person or a group of people."},
    {"name": "LOC", "definition": "A place: city, country, mountain ...", "parent": None},
    {"name": "NUM", "definition": "A number, date, distance, price ..."},
]


def _cfg(data: Path, key: str, url: str, labels: list[dict], tmp: Path) -> Project:
    cfg = parse_config(
        {
            "project": "taxonomy",
            "task": {"taxonomy": labels, "guidelines": "Label the kind of answer the question expects."},
            "source": {"path": str(data), "split_field": "split"},
            "privacy": {"spacy_model": None, "workers": 1},
            "model": {"compute": {"backend": "inprocess"}},
            "labelstudio": {"url": url, "project_key": key, "token_env": "LL_TEST_LS_TOKEN"},
            "quality": {"adjudication": {"method": "majority", "review_below": 0.6}},
        },
        base_dir=tmp,
    )
    return Project(cfg, workdir=tmp / "w")


def _relabel(labels: list[dict], changes: dict[str, list[str]]) -> list[dict]:
    """The taxonomy with each label in ``changes`` replaced by the listed ones (an empty list drops it)."""
    out = []
    for spec in labels:
        if spec["name"] not in changes:
            out.append(spec)
            continue
        out += [{"name": n, "definition": f"{n} (was {spec['name']})"} for n in changes[spec["name"]]]
    return out


@pytest.fixture
def trec(tmp_path: Path, datasets_dir: Path) -> tuple[Path, pd.DataFrame]:
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    picked = pd.concat([df[(df.split == "train") & (df.label == c)].head(3) for c in sorted(df.label.unique())])
    data = tmp_path / "trec18.csv"
    picked.drop(columns=["label"]).to_csv(data, index=False)
    return data, picked


def _round(project: Project, client: LabelStudioClient) -> tuple[int, dict[int, int], dict[int, str]]:
    """Push every item as one round; returns (project id, item → task, item → true label)."""
    store = project.store
    items = store.items(columns=("id", "external_id"))
    rid = store.add_round(
        {
            "strategy": "manual",
            "params": {},
            "seed": 0,
            "picked_item_ids": {"item_ids": [it["id"] for it in items]},
            "state": "selected",
        }
    )
    pushed = push_round(store, client, project.config, rid)
    tasks = {t["item_id"]: t["task_id"] for t in store.pushed_tasks(pushed.ls_project_id)}
    return pushed.ls_project_id, tasks, {it["id"]: it["external_id"] for it in items}


def test_every_migration_kind_through_label_studio(
    tmp_path: Path,
    trec: tuple[Path, pd.DataFrame],
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
) -> None:
    data, df = trec
    truth_by_ext = dict(zip(df.id.astype(str), df.label, strict=True))
    project = _cfg(data, project_key, ls_server.url, TAXONOMY, tmp_path)
    project.init()
    project.ingest()
    store = project.store
    pid, tasks, ext = _round(project, ls_client)
    truth = {i: truth_by_ext[e] for i, e in ext.items()}
    for item, task in tasks.items():  # A labels everything right
        annotators[A].create_annotation(task, truth[item], project_id=pid, lead_time_s=3.0)
    pull(store, ls_client, project.config)

    # Guidelines where annotators work: instructions (shown first), hints, triage controls, read back from the API.
    instructions, shown = ls_client.project_instructions(pid)
    assert shown is True
    assert "A place: city, country, mountain" in instructions and "What is a golf handicap?" in instructions
    assert "Label the kind of answer" in instructions and AMBIGUOUS in instructions
    label_config = ls_client.project_label_config(pid)
    assert 'hint="A person or a group of people."' in label_config
    assert f'name="{FLAG_NAME}"' in label_config and f'name="{COMMENT_NAME}"' in label_config

    v0 = TaxonomyHistory.load(store).current
    assert v0 is not None and v0.migration.kind == "init"
    assert {e["taxonomy_version"] for e in store.label_events()} == {v0.id}
    _, res = resolve_store(store, project.config)
    labels0 = res.label_map()
    assert labels0 == truth
    before = snapshot_labels(
        store,
        project.workdir,
        labels=labels0,
        items=store.items(),
        exclude_split=None,
        rules={i: r.rule for i, r in res.labels.items()},
    )
    n_events = len(store.label_events())

    def step(labels: list[dict], migration: Migration) -> tuple[Project, object]:
        nonlocal project
        project = _cfg(data, project_key, ls_server.url, labels, tmp_path)
        return project, migrate(project.store, project.config, migration, client=ls_client)

    # rename LOC -> PLACE: events untouched, read as PLACE; Label Studio's label set follows.
    tax1 = _relabel(TAXONOMY, {"LOC": ["PLACE"]})
    project, r1 = step(tax1, Migration("rename", ("LOC",), ("PLACE",)))
    assert r1.dropped == ["LOC"]
    assert LabelSchema.from_config(ls_client.project_label_config(pid)).labels == tuple(s["name"] for s in tax1)
    assert len(store.label_events()) == n_events and "LOC" in {e["label"] for e in store.label_events()}
    _, res = resolve_store(store, project.config)
    assert res.label_map() == {i: ("PLACE" if t == "LOC" else t) for i, t in truth.items()}

    # merge ABBR + DESC -> DESC.
    tax2 = [s for s in tax1 if s["name"] != "ABBR"]
    project, _ = step(tax2, Migration("merge", ("ABBR", "DESC"), ("DESC",)))
    _, res = resolve_store(store, project.config)
    assert res.label_map() == {i: {"LOC": "PLACE", "ABBR": "DESC"}.get(t, t) for i, t in truth.items()}

    # add OTHER, then retire it (unused: allowed).
    tax3 = [*tax2, {"name": "OTHER", "definition": "None of the above."}]
    project, _ = step(tax3, Migration("add", (), ("OTHER",)))
    assert "OTHER" in LabelSchema.from_config(ls_client.project_label_config(pid)).labels
    project, _ = step(tax2, Migration("retire", ("OTHER",)))

    # Retiring a label still in use, with no target, is refused; Label Studio keeps it.
    with pytest.raises(TaxonomyError, match="retire 'HUM': 3 live labels still use it"):
        step([s for s in tax2 if s["name"] != "HUM"], Migration("retire", ("HUM",)))
    assert "HUM" in LabelSchema.from_config(ls_client.project_label_config(pid)).labels
    # ... and the connector refuses to drop an annotated label the caller does not map (Label Studio would not).
    with pytest.raises(ProjectConfigMismatch, match=r"dropping \['HUM'\] would orphan annotations"):
        ls_client.update_labels(pid, [s["name"] for s in tax2 if s["name"] != "HUM"])
    assert "HUM" in LabelSchema.from_config(ls_client.project_label_config(pid)).labels

    # split ENTY -> ENTY_OBJ, ENTY_TERM: its items lose their label and come back as fresh tasks.
    tax4 = _relabel(tax2, {"ENTY": ["ENTY_OBJ", "ENTY_TERM"]})
    project, r4 = step(tax4, Migration("split", ("ENTY",), ("ENTY_OBJ", "ENTY_TERM")))
    enty = sorted(i for i, t in truth.items() if t == "ENTY")
    assert r4.requeued_items == enty and len(enty) == 3
    live, res = resolve_store(store, project.config)
    assert set(live.requeued) == set(enty) and not set(enty) & set(res.label_map())
    rnd = store.round(r4.requeue_round)
    assert rnd["strategy"] == REQUEUE_STRATEGY and rnd["state"] == "pushed"
    new_tasks = {t["item_id"]: t["task_id"] for t in store.pushed_tasks(pid) if t["round_id"] == rnd["id"]}
    assert sorted(new_tasks) == enty and not set(new_tasks.values()) & set(tasks.values())
    # Relabelled under the new labels: they resolve again.
    for item in enty:
        annotators[B].create_annotation(new_tasks[item], "ENTY_OBJ", project_id=pid, lead_time_s=2.0)
    pull(store, ls_client, project.config)
    live, res = resolve_store(store, project.config)
    assert not live.requeued and all(res.labels[i].label == "ENTY_OBJ" for i in enty)
    v_last = TaxonomyHistory.load(store).current
    assert v_last is not None and {e["taxonomy_version"] for e in store.label_events()[-3:]} == {v_last.id}
    assert [v.migration.kind for v in TaxonomyHistory.load(store).versions] == [
        "init",
        "rename",
        "merge",
        "add",
        "retire",
        "split",
    ]

    # The dataset version made before every migration rebuilds bit-identically after them.
    rep = reproduce_dataset(store, project.config, before.id)
    assert rep.identical and rep.rebuilt_sha256 == rep.manifest_sha256 and rep.rows == 18
    after = snapshot_labels(
        store,
        project.workdir,
        labels=res.label_map(),
        items=store.items(),
        exclude_split=None,
        rules={i: r.rule for i, r in res.labels.items()},
    )
    assert after.id != before.id and reproduce_dataset(store, project.config, after.id).identical

    # Its export finds the event behind every label, also where the event was given under an older name (LOC).
    table, _, missing = dataset_table(store, project.workdir, after.id)
    assert missing == 0 and None not in table.column("label_event_id").to_pylist()
    by_id = {e["id"]: e for e in store.label_events()}
    rows = table.to_pylist()
    place = [r for r in rows if r["label"] == "PLACE"]
    assert place and all(by_id[r["label_event_id"]]["label"] == "LOC" for r in place)
    assert all(r["annotator"] for r in rows)


def test_ambiguous_answers_feed_the_triage_queue_and_the_report(
    tmp_path: Path,
    trec: tuple[Path, pd.DataFrame],
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
) -> None:
    data, df = trec
    truth_by_ext = dict(zip(df.id.astype(str), df.label, strict=True))
    project = _cfg(data, project_key, ls_server.url, TAXONOMY, tmp_path)
    project.init()
    project.ingest()
    store = project.store
    pid, tasks, ext = _round(project, ls_client)
    items = sorted(tasks)
    truth = {i: truth_by_ext[ext[i]] for i in items}
    for item in items[:8]:
        annotators[A].create_annotation(tasks[item], truth[item], project_id=pid, lead_time_s=3.0)
    flagged = items[:2]
    annotators[B].create_annotation(
        tasks[flagged[0]], None, project_id=pid, ambiguous=True, comment="Could be HUM or ENTY: is a team a person?"
    )
    annotators[B].create_annotation(
        tasks[flagged[1]], "NUM", project_id=pid, ambiguous=True, comment="A year or an event?"
    )
    disputed = items[2:4]
    for item in disputed:
        wrong = "LOC" if truth[item] != "LOC" else "HUM"
        annotators[B].create_annotation(tasks[item], wrong, project_id=pid)
    pull(store, ls_client, project.config)

    ambiguous = [e for e in store.label_events() if (e["extra"] or {}).get("ambiguous")]
    assert len(ambiguous) == 2 and all(e["label"] is None and e["annotator"] == B for e in ambiguous)
    assert {(e["extra"] or {}).get("comment") for e in ambiguous} == {
        "Could be HUM or ENTY: is a team a person?",
        "A year or an event?",
    }
    assert {(e["extra"] or {}).get("tentative_label") for e in ambiguous} == {None, "NUM"}
    live, res = resolve_store(store, project.config)
    assert all(res.labels[i].label == truth[i] for i in flagged)  # the flag is no class label: A's label stands

    triage = triage_queue(store.label_events(), live, res)
    by_item = {e.item_id: e for e in triage.entries}
    assert [e.item_id for e in triage.entries[:2]] == flagged
    assert by_item[flagged[0]].flagged_by == [B] and by_item[flagged[1]].tentative == {B: "NUM"}
    assert by_item[flagged[0]].comments == [{"annotator": B, "comment": "Could be HUM or ENTY: is a team a person?"}]
    assert set(disputed) <= set(by_item) and all("disagreement" in by_item[i].reasons[0] for i in disputed)
    expected_pairs = {tuple(sorted((truth[i], "LOC" if truth[i] != "LOC" else "HUM"))) for i in disputed}
    assert {p.labels for p in triage.pairs} == expected_pairs

    report = build_report(project, tmp_path / "report")
    md = Path(report.md_path).read_text()
    section = md.split("## Triage: ambiguous and disputed items, guideline candidates")[1].split("\n## ")[0]
    assert "Could be HUM or ENTY: is a team a person?" in section and "A year or an event?" in section
    assert f"| {flagged[0]} | ambiguous |" in section
    for a, b in expected_pairs:
        assert f"{a} vs {b}" in section
    texts = store.items(columns=("id", "text"))
    assert not any(t["text"] in md for t in texts)  # item texts never reach the report
