"""Labeling configs: the single place that turns a task kind and its label set into Label Studio XML, and the
validation of predictions/annotations against it on OUR side (the server checks neither).

Use :func:`text_classification_config` to build a config, :func:`validate_label_config` before creating a project,
and :class:`LabelSchema` to check pre-labels and annotations before they are sent. New task kinds (spans, multi-label)
get their own generator here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

# Names used in the generated config; predictions and pulled annotations refer to them.
TEXT_NAME = "text"
CHOICES_NAME = "label"
# Triage controls (optional): a flag choice meaning "this item is ambiguous / the guideline does not settle it" and
# a free-text comment. Never part of the label set.
FLAG_NAME = "flag"
AMBIGUOUS = "ambiguous / guideline unclear"
COMMENT_NAME = "comment"


def _check_labels(labels: Sequence[str]) -> list[str]:
    """Labels must be non-empty, unique, trimmed strings; errors name the offending value."""
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of strings, got the string {labels!r}")
    out: list[str] = []
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"every label must be a non-empty string; got {label!r}")
        if label != label.strip():
            raise ValueError(f"label {label!r} has leading/trailing whitespace (Label Studio would keep it)")
        if label in out:
            raise ValueError(f"label {label!r} appears twice in the label set")
        out.append(label)
    if len(out) < 2:
        raise ValueError(f"a classification label set needs at least 2 labels; got {out!r}")
    return out


def text_classification_config(
    labels: Sequence[str], *, hints: Mapping[str, str] | None = None, triage: bool = False
) -> str:
    """Single-choice text classification: one ``<Choices>`` over the task's ``$text``.

    Labels are XML-escaped (``&``, ``<``, quotes) so any label string round-trips; order is kept as given, which
    is the order annotators see. ``hints`` (label → short definition) become the choices' hover hints. ``triage``
    adds an "ambiguous / guideline unclear" flag and a comment box (read back by :func:`triage_from_result`).
    """
    checked = _check_labels(labels)
    hints = hints or {}
    choices = "".join(
        f"<Choice value={quoteattr(label)}" + (f" hint={quoteattr(hints[label])}" if hints.get(label) else "") + "/>"
        for label in checked
    )
    extra = ""
    if triage:
        extra = (
            f'<Choices name="{FLAG_NAME}" toName="{TEXT_NAME}" choice="multiple" showInline="true">'
            f"<Choice value={quoteattr(AMBIGUOUS)}/></Choices>"
            f'<TextArea name="{COMMENT_NAME}" toName="{TEXT_NAME}" maxSubmissions="1" editable="true" '
            'placeholder="Why is it ambiguous? Which labels, which part of the guideline? (optional)"/>'
        )
    return (
        f'<View><Text name="{TEXT_NAME}" value="${TEXT_NAME}"/>'
        f'<Choices name="{CHOICES_NAME}" toName="{TEXT_NAME}" choice="single">'
        f"{choices}</Choices>{extra}</View>"
    )


def review_config(labels: Sequence[str]) -> str:
    """Review (adjudication) of disputed items: the same choices, with the evidence shown above the text (the
    annotators' labels, or why a label looks wrong) from the task's ``$context``."""
    checked = _check_labels(labels)
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in checked)
    return (
        f'<View><Header value="$context"/><Text name="{TEXT_NAME}" value="${TEXT_NAME}"/>'
        f'<Choices name="{CHOICES_NAME}" toName="{TEXT_NAME}" choice="single">'
        f"{choices}</Choices></View>"
    )


def validate_label_config(config: str) -> None:
    """Parse and validate with the SDK's ``LabelInterface``; raise ``ValueError`` with its message if invalid."""
    from label_studio_sdk.label_interface import LabelInterface

    try:
        LabelInterface(config).validate()
    except Exception as exc:  # the SDK raises several unrelated types (lxml, its own, KeyError)
        raise ValueError(f"invalid Label Studio labeling config: {exc}") from exc


def choice_result(label: str) -> list[dict[str, Any]]:
    """The ``result`` list Label Studio expects for one chosen label in our generated config."""
    return [
        {
            "from_name": CHOICES_NAME,
            "to_name": TEXT_NAME,
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


def label_from_result(result: Any) -> str | None:
    """The chosen label of a result list, or None when it carries no choice (skip, empty submit).

    Raises ``ValueError`` on several choices, since our configs are single-choice: a multi-choice result means the
    config was edited on the server behind our back.
    """
    if not isinstance(result, list):
        return None
    chosen: list[str] = []
    for region in result:
        if isinstance(region, dict) and region.get("from_name") == CHOICES_NAME:
            chosen.extend((region.get("value") or {}).get("choices") or [])
    if not chosen:
        return None
    if len(chosen) > 1:
        raise ValueError(f"single-choice result carries {len(chosen)} choices: {chosen!r}")
    return str(chosen[0])


def triage_from_result(result: Any) -> tuple[bool, str | None]:
    """(marked ambiguous, comment or None) of a result list from a config made with ``triage=True``.

    Label Studio returns the comment as ``{"from_name": "comment", "type": "textarea", "value": {"text": [...]}}``
    (one string per submitted line); they are joined with newlines.
    """
    if not isinstance(result, list):
        return False, None
    ambiguous, texts = False, []
    for region in result:
        if not isinstance(region, dict):
            continue
        value = region.get("value") or {}
        if region.get("from_name") == FLAG_NAME and AMBIGUOUS in (value.get("choices") or []):
            ambiguous = True
        elif region.get("from_name") == COMMENT_NAME:
            texts.extend(str(t) for t in value.get("text") or [] if str(t).strip())
    return ambiguous, ("\n".join(texts) if texts else None)


def triage_result(*, ambiguous: bool, comment: str | None) -> list[dict[str, Any]]:
    """The result regions for the triage controls (simulated annotators and tests write them)."""
    out: list[dict[str, Any]] = []
    if ambiguous:
        out.append({"from_name": FLAG_NAME, "to_name": TEXT_NAME, "type": "choices", "value": {"choices": [AMBIGUOUS]}})
    if comment:
        out.append({"from_name": COMMENT_NAME, "to_name": TEXT_NAME, "type": "textarea", "value": {"text": [comment]}})
    return out


@dataclass(frozen=True)
class LabelSchema:
    """The labels of one project's config, used to reject bad pre-labels/annotations before any write."""

    config: str
    labels: tuple[str, ...]

    @classmethod
    def from_config(cls, config: str) -> LabelSchema:
        """Read the label set of our ``<Choices name="label">`` control from a (validated) config."""
        from label_studio_sdk.label_interface import LabelInterface

        validate_label_config(config)
        interface = LabelInterface(config)
        try:
            control = interface.get_control(CHOICES_NAME)
        except Exception as exc:
            raise ValueError(f"labeling config has no <Choices name={CHOICES_NAME!r}> control") from exc
        return cls(config=config, labels=tuple(control.labels))

    def check_label(self, label: str, *, context: str) -> None:
        """Raise ``ValueError`` naming the label, the context (e.g. the item) and the allowed labels."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r} for {context}; allowed labels: {list(self.labels)!r}")

    def check_prediction(self, label: str, score: float, model_version: str, *, context: str) -> None:
        """A pre-label must name a known label, carry a finite score in [0, 1] and a model version."""
        self.check_label(label, context=context)
        if not isinstance(score, int | float) or not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"pre-label score for {context} must be a finite number in [0, 1]; got {score!r}")
        if not model_version:
            raise ValueError(f"pre-label for {context} has an empty model_version")
