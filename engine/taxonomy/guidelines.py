"""The taxonomy rendered where annotators work: Label Studio's instructions (HTML shown before labeling) and the
choices' hover hints. Escaped throughout: definitions and examples are user text."""

from __future__ import annotations

from html import escape

from labelloop.connectors.labelstudio.config import AMBIGUOUS
from labelloop.engine.taxonomy.schema import Schema

_HINT_CHARS = 200


def label_hints(schema: Schema) -> dict[str, str]:
    """Label → its definition cut to a hint's length (labels without a definition get none)."""
    return {
        s["name"]: (
            s["definition"] if len(s["definition"]) <= _HINT_CHARS else s["definition"][: _HINT_CHARS - 1] + "…"
        )
        for s in schema.labels
        if s.get("definition")
    }


def render_instructions(schema: Schema, *, version: str | None = None) -> str:
    """HTML instructions: the guidelines, then each label (under its parent) with definition and examples, then
    how to flag an item the guideline does not settle."""
    parts = ["<h2>Labeling guidelines</h2>"]
    if schema.guidelines:
        parts += [f"<p>{escape(p)}</p>" for p in schema.guidelines.split("\n\n") if p.strip()]
    children: dict[str | None, list[dict]] = {}
    for spec in schema.labels:
        children.setdefault(spec.get("parent"), []).append(spec)

    def render(parent: str | None) -> str:
        items = []
        for spec in children.get(parent, []):
            body = f"<b>{escape(spec['name'])}</b>"
            if spec.get("definition"):
                body += f": {escape(spec['definition'])}"
            ex = spec.get("examples") or {}
            if ex.get("positive"):
                body += "<br>Examples: " + "; ".join(f"<q>{escape(e)}</q>" for e in ex["positive"])
            if ex.get("negative"):
                body += "<br>Not this label: " + "; ".join(f"<q>{escape(e)}</q>" for e in ex["negative"])
            body += render(spec["name"])
            items.append(f"<li>{body}</li>")
        return f"<ul>{''.join(items)}</ul>" if items else ""

    parts.append(render(None))
    parts.append(
        f"<p>If no label fits or the guideline does not settle it, tick <b>{escape(AMBIGUOUS)}</b> (without a label) "
        "and say why in the comment: these items go to the guideline owners.</p>"
    )
    if version:
        parts.append(f"<p><small>taxonomy version {escape(version)}</small></p>")
    return "".join(parts)
