"""Taxonomy schemas, migrations and history-aware label reading, without Label Studio."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from labelloop.connectors.labelstudio.config import text_classification_config, triage_from_result, triage_result
from labelloop.engine.config import ConfigError, parse_config
from labelloop.engine.quality.votes import live_labels
from labelloop.engine.taxonomy.guidelines import label_hints, render_instructions
from labelloop.engine.taxonomy.history import TaxonomyHistory, Version
from labelloop.engine.taxonomy.schema import Migration, Schema, TaxonomyError, version_id

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _history(*steps: tuple[list[str], Migration]) -> TaxonomyHistory:
    versions, parent = [], None
    for k, (names, mig) in enumerate(steps):
        schema = Schema.bare(names)
        vid = version_id(schema, mig, parent)
        versions.append(Version(vid, k, schema, mig, T0 + dt.timedelta(days=k), parent))
        parent = vid
    return TaxonomyHistory(versions)


def _event(i: int, item: int, label: str | None, annotator: str, day: float, **kw: object) -> dict:
    at = T0 + dt.timedelta(days=day)
    return {
        "id": i,
        "item_id": item,
        "label": label,
        "source": "human",
        "annotator": annotator,
        "recorded_at": at,
        "event_at": at,
        "retracts_event_id": None,
        "round_id": None,
        **kw,
    }


def test_config_taxonomy_gives_labels_and_errors_name_the_key_path() -> None:
    cfg = parse_config(
        {"project": "p", "task": {"taxonomy": [{"name": "a", "definition": "A"}, {"name": "b"}]}}, base_dir=Path(".")
    )
    assert cfg.task.labels == ["a", "b"] and cfg.task.label_specs()[0].definition == "A"
    with pytest.raises(ConfigError, match=r"task.taxonomy\[1\].examples.pos: unknown key; allowed keys: negative"):
        parse_config(
            {"project": "p", "task": {"taxonomy": [{"name": "a"}, {"name": "b", "examples": {"pos": []}}]}},
            base_dir=Path("."),
        )
    with pytest.raises(ConfigError, match=r"taxonomy\[0\].parent: the parents of 'a' form a cycle"):
        parse_config(
            {"project": "p", "task": {"taxonomy": [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]}},
            base_dir=Path("."),
        )
    plain = parse_config({"project": "p", "task": {"labels": ["x", "y"]}}, base_dir=Path("."))
    assert [s.name for s in plain.task.label_specs()] == ["x", "y"]


@pytest.mark.parametrize(
    ("migration", "after"),
    [
        (Migration("rename", ("a",), ("z",)), ["z", "b", "c"]),
        (Migration("merge", ("a", "b"), ("b",)), ["b", "c"]),
        (Migration("split", ("a",), ("a1", "a2")), ["a1", "a2", "b", "c"]),
        (Migration("retire", ("c",), ("b",)), ["a", "b"]),
        (Migration("add", (), ("d",)), ["a", "b", "c", "d"]),
    ],
)
def test_each_migration_applies_and_inverts(migration: Migration, after: list[str]) -> None:
    assert migration.apply(["a", "b", "c"]) == set(after)
    assert sorted(migration.invert(after)) == ["a", "b", "c"]


def test_bad_migrations_say_what_is_wrong() -> None:
    with pytest.raises(TaxonomyError, match="wrong number of labels"):
        Migration("split", ("a",), ("b",))
    with pytest.raises(TaxonomyError, match="unknown; known kinds"):
        Migration("delete", ("a",))  # type: ignore[arg-type]
    with pytest.raises(TaxonomyError, match=r"\['x'\] not in the current labels"):
        Migration("rename", ("x",), ("y",)).apply(["a", "b"])
    with pytest.raises(TaxonomyError, match=r"\['b'\] already in the current labels"):
        Migration("rename", ("a",), ("b",)).apply(["a", "b"])


def test_old_labels_read_through_renames_and_splits_requeue() -> None:
    h = _history(
        (["a", "b", "c"], Migration("init")),
        (["z", "b", "c"], Migration("rename", ("a",), ("z",))),
        (["z", "b1", "b2", "c"], Migration("split", ("b",), ("b1", "b2"))),
    )
    v0, v1, v2 = (v.id for v in h.versions)
    events = [
        _event(1, 10, "a", "ann1", 0.5, taxonomy_version=v0),  # renamed: reads z
        _event(2, 11, "b", "ann1", 0.5, taxonomy_version=v0),  # split: item 11 re-queued
        _event(3, 11, "c", "ann2", 0.5, taxonomy_version=v0),  # same item: dropped too (made before the split)
        _event(4, 12, "a", "ann1", 1.5),  # no version: recorded under v1, where "a" is gone; read from v0: z
        _event(5, 13, "b", "ann1", 0.2, taxonomy_version=v0),
        _event(6, 13, "b1", "ann2", 2.5, taxonomy_version=v2),  # relabelled after the split: counts, not re-queued
    ]
    applied = h.apply(events)
    assert applied.requeued == {11: v2}
    live = live_labels(events, taxonomy=h)
    assert {i: {a: v.label for a, v in votes.items()} for i, votes in live.human.items()} == {
        10: {"ann1": "z"},
        12: {"ann1": "z"},
        13: {"ann2": "b1"},
    }
    assert live.requeued == {11: v2} and v1 in {v.id for v in h.versions}
    assert [e["label"] for e in events] == ["a", "b", "c", "a", "b", "b1"]  # the input events are not changed


def test_triage_controls_round_trip_and_are_not_labels() -> None:
    config = text_classification_config(["a", "b"], hints={"a": "the A"}, triage=True)
    assert 'hint="the A"' in config
    result = triage_result(ambiguous=True, comment="unclear")
    assert triage_from_result(result) == (True, "unclear")
    assert triage_from_result([]) == (False, None)


def test_instructions_escape_and_nest_by_parent() -> None:
    schema = Schema(
        [
            {
                "name": "animal",
                "definition": "<any> animal",
                "examples": {"positive": ["cat"], "negative": []},
                "parent": None,
            },
            {
                "name": "dog",
                "definition": "a dog",
                "examples": {"positive": [], "negative": ["wolf"]},
                "parent": "animal",
            },
        ],
        "Read the whole text.",
    )
    html = render_instructions(schema, version="tx-1")
    assert "&lt;any&gt; animal" in html and "<q>cat</q>" in html and "Not this label: <q>wolf</q>" in html
    assert html.index("<b>dog</b>") > html.index("<b>animal</b>") and "<ul><li><b>dog" in html
    assert label_hints(schema) == {"animal": "<any> animal", "dog": "a dog"}
