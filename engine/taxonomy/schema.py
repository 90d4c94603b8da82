"""Taxonomy schemas and the explicit migrations between them.

A schema is plain JSON (``{"labels": [{name, definition, examples, parent}], "guidelines": ...}``) so it can be
stored, hashed and diffed. A :class:`Migration` says how the label SET changed; what each kind means for labels
already given:

- ``add``: a new label; nothing old changes.
- ``rename`` (``source`` → ``target``): old labels read as the new name.
- ``merge`` (``sources`` → ``target``): old labels of every source read as the target.
- ``split`` (``source`` → ``targets``): old labels of the source are NOT guessed: their items go back for
  relabeling (re-queued) and have no label until then.
- ``retire`` (``source``, optional ``target``): the label leaves the set; with a target its old labels read as the
  target, without one it may only be retired while nothing uses it.
- ``edit``: definitions, examples or guidelines changed, the label set did not.
- ``init``: the first recorded version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from labelloop.engine.config import ConfigError, TaskConfig

MigrationKind = Literal["init", "edit", "add", "rename", "merge", "split", "retire"]
KINDS: tuple[str, ...] = ("init", "edit", "add", "rename", "merge", "split", "retire")

# What an old label becomes under a migration: a label name, or REQUEUE (sent back for relabeling).
REQUEUE = "\x00requeue"


class TaxonomyError(ConfigError):
    """A taxonomy change that is not an explicit, consistent migration (or would drop labels still in use)."""


@dataclass(frozen=True)
class Migration:
    kind: MigrationKind
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    note: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TaxonomyError(f"migration kind {self.kind!r} is unknown; known kinds: {', '.join(KINDS)}")
        need = {
            "init": (0, 0),
            "edit": (0, 0),
            "add": (0, 1),
            "rename": (1, 1),
            "merge": (2, 1),
            "split": (1, 2),
        }
        if self.kind == "retire":
            ok = len(self.sources) == 1 and len(self.targets) <= 1
        else:
            n_src, n_tgt = need[self.kind]
            exact_src = self.kind in ("rename", "split", "add", "init", "edit")
            exact_tgt = self.kind in ("rename", "merge", "add", "init", "edit")
            ok = (len(self.sources) == n_src if exact_src else len(self.sources) >= n_src) and (
                len(self.targets) == n_tgt if exact_tgt else len(self.targets) >= n_tgt
            )
        if not ok:
            raise TaxonomyError(
                f"migration {self.kind}: wrong number of labels (sources {list(self.sources)}, targets "
                f"{list(self.targets)}); expected: add TARGET | rename SOURCE TARGET | merge SOURCE SOURCE... "
                "TARGET | split SOURCE TARGET TARGET... | retire SOURCE [TARGET]"
            )

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Migration:
        return cls(data["kind"], tuple(data.get("sources", ())), tuple(data.get("targets", ())), data.get("note"))

    def mapping(self) -> dict[str, str]:
        """Old label → what it reads as after this migration (a label or :data:`REQUEUE`); unlisted labels stay."""
        if self.kind in ("rename", "merge") or (self.kind == "retire" and self.targets):
            return dict.fromkeys(self.sources, self.targets[0])
        if self.kind == "split":
            return {self.sources[0]: REQUEUE}
        return {}

    def apply(self, names: Sequence[str]) -> set[str]:
        """The label set after this migration, from the set before it (errors name what is missing or clashing)."""
        before = set(names)
        missing = [s for s in self.sources if s not in before]
        if missing:
            raise TaxonomyError(f"migration {self.kind}: {missing} not in the current labels {sorted(before)}")
        after = before - set(self.sources)
        if self.kind in ("add", "rename", "split"):
            clash = [t for t in self.targets if t in after]
            if clash:
                raise TaxonomyError(f"migration {self.kind}: {clash} already in the current labels {sorted(before)}")
        if self.kind == "retire" and self.targets and self.targets[0] not in after:
            raise TaxonomyError(f"migration retire: target {self.targets[0]!r} is not a remaining label")
        if self.kind == "retire":
            return after
        return after | set(self.targets)

    def invert(self, names: Sequence[str]) -> list[str]:
        """The label names before this migration, from those after it (to record a first version after the fact)."""
        if self.kind == "rename":
            return [self.sources[0] if n == self.targets[0] else n for n in names]
        if self.kind in ("add", "split", "merge"):
            keep = [n for n in names if n not in self.targets or n in self.sources]
            return keep + [s for s in self.sources if s not in keep]
        if self.kind == "retire":
            return [*names, self.sources[0]]
        return list(names)


@dataclass(frozen=True)
class Schema:
    """A taxonomy as stored: labels in order, each with definition, examples and parent; and the guidelines."""

    labels: list[dict[str, Any]] = field(default_factory=list)
    guidelines: str | None = None

    @property
    def names(self) -> list[str]:
        return [spec["name"] for spec in self.labels]

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "guidelines": self.guidelines}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(list(data.get("labels", [])), data.get("guidelines"))

    @classmethod
    def from_task(cls, task: TaskConfig) -> Schema:
        return cls([spec.model_dump() for spec in task.label_specs()], task.guidelines)

    @classmethod
    def bare(cls, names: Sequence[str]) -> Schema:
        return cls(
            [{"name": n, "definition": "", "examples": {"positive": [], "negative": []}, "parent": None} for n in names]
        )


def version_id(schema: Schema, migration: Migration, parent: str | None) -> str:
    """Content address of a version: its schema, the migration that made it and its parent (so undoing a change
    later is a new version, not the old one again)."""
    body = json.dumps(
        {"schema": schema.as_dict(), "migration": migration.as_dict(), "parent": parent},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "tx-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:20]
