"""Row validation: turn a raw row into a candidate item, or say exactly why it cannot be one.

Checks, in order: the reader's parse problem (invalid UTF-8, broken JSON, wrong field count), a missing or empty
text, a text that is not a string, a text over the configured length, a label outside the task's label set.

:func:`validate_columns` does the same for a whole :class:`ColumnChunk` with Arrow compute kernels: rows it can
prove plain (ASCII text that is already stripped and normalised, within the length limit, label in the set or
empty) pass in bulk; every other row goes through :func:`validate_row`, so reasons and details are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from labelloop.connectors.sources.base import ColumnChunk, RawRow, RowProblem
from labelloop.engine.ingest.identity import normalise

# ASCII characters for which str.isspace() is true, other than single spaces between words: a text without them
# at its ends or inside (and ASCII only) is its own str.strip() and its own identity.normalise().
_NOT_PLAIN = r"^ | $|  |[\t\n\x0b\x0c\r\x1c-\x1f]"


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


@dataclass
class ValidatedRows:
    """The valid rows of a chunk as parallel columns in file order, plus the rejected rows.

    ``normalised`` is each text as :func:`~labelloop.engine.ingest.identity.normalise` gives it (the identity
    hash's input); for plain rows it is the text itself. ``meta`` is None when no metadata fields are configured.
    """

    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    external_ids: list[str | None] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    meta: list[dict[str, Any]] | None = None
    rejected: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, cand: Candidate) -> None:
        self.lines.append(cand.line)
        self.texts.append(cand.text)
        self.normalised.append(normalise(cand.text))
        self.external_ids.append(cand.external_id)
        self.labels.append(cand.label)
        self.splits.append(cand.split)
        if self.meta is not None:
            self.meta.append(cand.meta)

    def candidates(self) -> list[Candidate]:
        meta = self.meta if self.meta is not None else [{} for _ in self.lines]
        return [
            Candidate(line=ln, text=t, external_id=e, label=lb, split=sp, meta=m)
            for ln, t, e, lb, sp, m in zip(
                self.lines, self.texts, self.external_ids, self.labels, self.splits, meta, strict=True
            )
        ]


def validate_rows(rows: list[RawRow], rules: RowRules) -> ValidatedRows:
    out = ValidatedRows(meta=[] if rules.metadata_fields else None)
    for row in rows:
        result = validate_row(row, rules)
        if isinstance(result, Candidate):
            out.add(result)
        else:
            out.rejected.append(result)
    return out


def _stripped_or_none(values: list[str]) -> list[str | None]:
    return [v.strip() or None for v in values]


def validate_columns(chunk: ColumnChunk, rules: RowRules) -> ValidatedRows:
    """Validate a chunk of string columns in bulk; rows not provably plain take the row-by-row path."""
    batch = chunk.batch
    names = batch.schema.names
    n = batch.num_rows
    if rules.text_field not in names:
        return validate_rows(chunk.rows(), rules)
    text = batch.column(rules.text_field)
    size = pc.binary_length(text)
    plain = pc.and_(
        pc.and_(pc.string_is_ascii(text), pc.invert(pc.match_substring_regex(text, _NOT_PLAIN))),
        pc.and_(pc.greater(size, 0), pc.less_equal(size, rules.max_text_chars)),
    )
    label_col = batch.column(rules.label_field) if rules.label_field in names else None
    if label_col is not None:
        exact = sorted(lb for lb in rules.labels if lb == lb.strip())  # a padded label in the set never matches
        known = pc.is_in(label_col, value_set=pa.array(exact, pa.string()))
        plain = pc.and_(plain, pc.or_(known, pc.equal(label_col, "")))

    first = chunk.first_line
    out = ValidatedRows(lines=list(range(first, first + n)), texts=text.to_pylist())
    out.normalised = list(out.texts)
    out.external_ids = (
        _stripped_or_none(batch.column(rules.id_field).to_pylist()) if rules.id_field in names else [None] * n
    )
    out.labels = [v or None for v in label_col.to_pylist()] if label_col is not None else [None] * n
    out.splits = (
        _stripped_or_none(batch.column(rules.split_field).to_pylist()) if rules.split_field in names else [None] * n
    )
    if rules.label_splits is not None:
        allowed = rules.label_splits
        out.labels = [lb if sp in allowed else None for lb, sp in zip(out.labels, out.splits, strict=True)]
    present = [k for k in rules.metadata_fields if k in names]
    if rules.metadata_fields:
        columns = [batch.column(k).to_pylist() for k in present]
        out.meta = [dict(zip(present, values, strict=True)) for values in zip(*columns, strict=True)]
        if not present:
            out.meta = [{} for _ in range(n)]

    if pc.all(plain).as_py():
        return out
    # Rows that are not plain: exactly what validate_row says, patched into the columns; rejected rows dropped.
    keep = plain.to_pylist()
    columns = [c.to_pylist() for c in batch.columns]
    join = chunk.delimiter.join
    for i, is_plain in enumerate(keep):
        if is_plain:
            continue
        values = [c[i] for c in columns]
        result = validate_row(RawRow(first + i, dict(zip(names, values, strict=True)), join(values)), rules)
        if isinstance(result, Rejected):
            out.rejected.append(result)
            continue
        keep[i] = True
        out.texts[i] = result.text
        out.normalised[i] = normalise(result.text)
        out.external_ids[i] = result.external_id
        out.labels[i] = result.label
        out.splits[i] = result.split
        if out.meta is not None:
            out.meta[i] = result.meta
    if out.rejected:
        out.lines = list(compress(out.lines, keep))
        out.texts = list(compress(out.texts, keep))
        out.normalised = list(compress(out.normalised, keep))
        out.external_ids = list(compress(out.external_ids, keep))
        out.labels = list(compress(out.labels, keep))
        out.splits = list(compress(out.splits, keep))
        if out.meta is not None:
            out.meta = list(compress(out.meta, keep))
    return out
