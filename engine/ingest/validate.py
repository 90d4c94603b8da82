"""Row validation: turn a raw row into a candidate item, or say exactly why it cannot be one.

Checks, in order: the reader's parse problem (invalid UTF-8, broken JSON, wrong field count), a missing or empty
text, a text that is not a string, a text over the configured length, a label outside the task's label set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelloop.connectors.sources.base import RawRow, RowProblem


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row that passed validation; the text is still the original (redaction comes next)."""

    line: int
    text: str
    external_id: str | None
    label: str | None
    split: str | None
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    raw: str
    problem: RowProblem


@dataclass(frozen=True)
class RowRules:
    text_field: str
    id_field: str | None
    label_field: str | None
    split_field: str | None
    metadata_fields: tuple[str, ...]
    max_text_chars: int
    labels: frozenset[str]
    label_splits: frozenset[str] | None = None


def _as_optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def validate_row(row: RawRow, rules: RowRules) -> Candidate | Rejected:
    if row.problem is not None or row.fields is None:
        return Rejected(row.line, row.raw, row.problem or RowProblem("unparseable", "row could not be parsed"))
    fields = row.fields
    if rules.text_field not in fields or fields[rules.text_field] is None:
        return Rejected(row.line, row.raw, RowProblem("missing_text", f"no {rules.text_field!r} field"))
    value = fields[rules.text_field]
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        detail = f"{rules.text_field!r} must be a string, got {type(value).__name__}"
        return Rejected(row.line, row.raw, RowProblem("invalid_text", detail))
    text = value.strip()
    if not text:
        return Rejected(row.line, row.raw, RowProblem("empty_text", f"{rules.text_field!r} is empty"))
    if len(text) > rules.max_text_chars:
        detail = f"text has {len(text)} characters, the limit (ingest.max_text_chars) is {rules.max_text_chars}"
        return Rejected(row.line, row.raw, RowProblem("text_too_long", detail))
    label = _as_optional_str(fields.get(rules.label_field)) if rules.label_field else None
    if label is not None and label not in rules.labels:
        detail = f"label {label!r} is not in the label set {sorted(rules.labels)}"
        return Rejected(row.line, row.raw, RowProblem("unknown_label", detail))
    meta = {k: fields[k] for k in rules.metadata_fields if k in fields}
    split = _as_optional_str(fields.get(rules.split_field)) if rules.split_field else None
    if rules.label_splits is not None and split not in rules.label_splits:
        label = None  # withheld by config: this row's label is for people (or a simulator) to provide
    return Candidate(
        line=row.line,
        text=text,
        external_id=_as_optional_str(fields.get(rules.id_field)) if rules.id_field else None,
        label=label,
        split=split,
        meta=meta,
    )
