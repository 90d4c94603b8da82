"""Token-level evaluation of a redactor against span-annotated sentences.

Counts the way presidio-research's ``Evaluator`` does (IO scheme): every token gets one gold tag and one
predicted tag (an entity type or ``O``); the pair is counted; per entity type

* recall    = #(gold=T, pred=T) / #(gold=T)
* precision = #(gold=T, pred=T) / #(pred=T)

so a token predicted with the *wrong* type counts against both. Tokens come from spaCy's English tokenizer
(``spacy.blank('en')``, the same rules as the evaluator's ``en_core_web_sm`` tokenizer); whitespace-only tokens
(the newlines inside multi-line addresses) are skipped. A token takes a span's type when it overlaps it.

Predicted types are our names; ``DATASET_TYPE_FOR`` maps them onto the dataset's (``EMAIL`` → ``EMAIL_ADDRESS``,
``LOCATION`` → ``GPE`` ...). Beside the token scores, ``sentences_with_pii_left`` is the share of sentences with at
least one gold span of a covered type in which some token of such a span is not inside any predicted span
(of any type): the privacy view, where a name redacted as ``<LOCATION>`` is still redacted.

Use :func:`evaluate` with any ``predict(texts) -> list[list[RedactedSpan]]``; :func:`load_jsonl` reads the shared
``pii_presidio_synth`` file.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.engine.privacy.redactor import RedactedSpan

__all__ = ["DATASET_TYPE_FOR", "EvaluationReport", "GoldSentence", "GoldSpan", "evaluate", "load_jsonl"]

# Our entity names → the presidio-research dataset's names.
DATASET_TYPE_FOR: dict[str, str] = {
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL_CREDENTIALS": "URL_CREDENTIALS",
    "US_SSN": "US_SSN",
    "PERSON": "PERSON",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "LOCATION": "GPE",
}


@dataclass(frozen=True)
class GoldSpan:
    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class GoldSentence:
    id: str
    text: str
    spans: tuple[GoldSpan, ...]


@dataclass
class EvaluationReport:
    """``per_entity[T] = {"recall", "precision", "support"}`` (support = gold tokens of type T)."""

    per_entity: dict[str, dict[str, float]]
    pii_recall: float
    pii_precision: float
    sentences_with_pii_left: float
    sentences_with_covered_pii: int
    sentences_with_pii_left_any_type: float
    sentences_with_any_pii: int
    covered_types: tuple[str, ...]
    token_pairs: Counter[tuple[str, str]] = field(repr=False)
    leaks: list[dict[str, Any]] = field(repr=False, default_factory=list)


def load_jsonl(path: Path) -> list[GoldSentence]:
    """Read ``{id, text, spans: [{start, end, entity_type}]}`` lines."""
    sentences = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            spans = tuple(GoldSpan(int(s["start"]), int(s["end"]), str(s["entity_type"])) for s in row["spans"])
            sentences.append(GoldSentence(id=str(row["id"]), text=str(row["text"]), spans=spans))
    return sentences


def _tag(tokens: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * len(tokens)
    for start, end, etype in spans:
        for i, (ts, te) in enumerate(tokens):
            if ts < end and te > start and tags[i] == "O":
                tags[i] = etype
    return tags


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def evaluate(
    sentences: Sequence[GoldSentence],
    predict: Callable[[list[str]], list[list[RedactedSpan]]],
    *,
    covered_types: Sequence[str] | None = None,
) -> EvaluationReport:
    """Score ``predict`` on ``sentences``.

    :param covered_types: dataset types the redactor is meant to cover (default: the images of
        ``DATASET_TYPE_FOR``); used only for ``sentences_with_pii_left``. Per-entity scores are reported for
        every gold type and every predicted type.
    """
    import spacy

    tokenizer = spacy.blank("en").tokenizer
    covered = tuple(covered_types) if covered_types is not None else tuple(DATASET_TYPE_FOR.values())
    predictions = predict([s.text for s in sentences])
    if len(predictions) != len(sentences):
        raise ValueError(f"predict returned {len(predictions)} results for {len(sentences)} sentences")

    pairs: Counter[tuple[str, str]] = Counter()
    covered_sentences = leaked_covered = any_sentences = leaked_any = 0
    leaks: list[dict[str, Any]] = []
    for sentence, predicted in zip(sentences, predictions, strict=True):
        doc = tokenizer(sentence.text)
        tokens = [(t.idx, t.idx + len(t.text)) for t in doc if not t.is_space]
        gold = _tag(tokens, [(s.start, s.end, s.entity_type) for s in sentence.spans])
        pred = _tag(tokens, [(p.start, p.end, DATASET_TYPE_FOR.get(p.entity_type, p.entity_type)) for p in predicted])
        pairs.update(zip(gold, pred, strict=True))

        left = [tok for tok, g, p in zip(tokens, gold, pred, strict=True) if g != "O" and p == "O"]
        left_types = {g for g, p in zip(gold, pred, strict=True) if g != "O" and p == "O"}
        if sentence.spans:
            any_sentences += 1
            leaked_any += bool(left)
        if any(s.entity_type in covered for s in sentence.spans):
            covered_sentences += 1
            covered_left = left_types & set(covered)
            if covered_left:
                leaked_covered += 1
                leaks.append(
                    {
                        "id": sentence.id,
                        "types": sorted(covered_left),
                        "tokens": [
                            sentence.text[a:b]
                            for (a, b), g, p in zip(tokens, gold, pred, strict=True)
                            if g in covered_left and p == "O"
                        ],
                    }
                )

    types = sorted({g for g, _ in pairs if g != "O"} | {p for _, p in pairs if p != "O"})
    per_entity: dict[str, dict[str, float]] = {}
    for etype in types:
        annotated = sum(n for (g, _), n in pairs.items() if g == etype)
        predicted_n = sum(n for (_, p), n in pairs.items() if p == etype)
        tp = pairs[(etype, etype)]
        per_entity[etype] = {
            "recall": tp / annotated if annotated else float("nan"),
            "precision": tp / predicted_n if predicted_n else float("nan"),
            "support": annotated,
        }
    annotated_all = sum(n for (g, _), n in pairs.items() if g != "O")
    predicted_all = sum(n for (_, p), n in pairs.items() if p != "O")
    hit_all = sum(n for (g, p), n in pairs.items() if g != "O" and p != "O")
    return EvaluationReport(
        per_entity=per_entity,
        pii_recall=hit_all / annotated_all if annotated_all else float("nan"),
        pii_precision=hit_all / predicted_all if predicted_all else float("nan"),
        sentences_with_pii_left=leaked_covered / covered_sentences if covered_sentences else float("nan"),
        sentences_with_covered_pii=covered_sentences,
        sentences_with_pii_left_any_type=leaked_any / any_sentences if any_sentences else float("nan"),
        sentences_with_any_pii=any_sentences,
        covered_types=covered,
        token_pairs=pairs,
        leaks=leaks,
    )
