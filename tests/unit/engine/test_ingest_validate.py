"""Bulk column validation must accept, reject and normalise exactly like the row-by-row path."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from labelloop.connectors.sources import ColumnChunk
from labelloop.engine.ingest.validate import RowRules, validate_columns, validate_rows

TEXTS = [
    "plain words here",
    "  padded text ",
    "two  spaces",
    "tab\tinside",
    "line\nbreak",
    "",
    "   ",
    "caf\u00e9 cr\u00e8me",
    "e\u0301 combining",
    "nbsp\u00a0inside",
    "sep\x1cchar",
    "x" * 30,
    "x" * 31,
    "ok",
]
LABELS = ["pos", "neg", " pos", "", "maybe", "neg ", "POS"]
SPLITS = ["train", "test", " test ", "", "dev"]
IDS = ["a1", " a2 ", "", "b"]


@pytest.mark.parametrize("seed", range(8))
def test_column_validation_equals_row_validation(seed: int) -> None:
    rng = random.Random(seed)
    n = 200
    batch = pa.RecordBatch.from_pydict(
        {
            "id": [rng.choice(IDS) for _ in range(n)],
            "text": [rng.choice(TEXTS) for _ in range(n)],
            "label": [rng.choice(LABELS) for _ in range(n)],
            "split": [rng.choice(SPLITS) for _ in range(n)],
            "source_url": [f"u{i}" for i in range(n)],
        },
        schema=pa.schema([(k, pa.string()) for k in ("id", "text", "label", "split", "source_url")]),
    )
    rules = RowRules(
        text_field="text",
        id_field="id",
        label_field="label",
        split_field="split",
        metadata_fields=("source_url", "absent") if seed % 2 else (),
        max_text_chars=30,
        labels=frozenset({"pos", "neg", " pos"}),
        label_splits=frozenset({"test"}) if seed % 3 == 0 else None,
    )
    chunk = ColumnChunk(first_line=10, batch=batch)
    bulk = validate_columns(chunk, rules)
    rows = validate_rows(chunk.rows(), rules)
    assert bulk.candidates() == rows.candidates()
    assert bulk.normalised == rows.normalised
    assert bulk.rejected == rows.rejected
    assert len(bulk) + len(bulk.rejected) == n


def test_all_plain_chunk_takes_no_row_path() -> None:
    batch = pa.RecordBatch.from_pydict({"text": ["a b", "c"], "label": ["pos", ""]})
    rules = RowRules("text", None, "label", None, (), 100, frozenset({"pos"}))
    out = validate_columns(ColumnChunk(first_line=2, batch=batch), rules)
    assert (out.lines, out.texts, out.labels, out.rejected) == ([2, 3], ["a b", "c"], ["pos", None], [])
