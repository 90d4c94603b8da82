"""Redaction quality on the shared presidio-research synthetic PII set (1,020 sentences).

Floors are the token-level recalls measured when this test was written (see bench/redaction.md), rounded down
a little so that harmless changes do not flap; a drop below them is a real regression.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.engine.privacy import Redactor
from labelloop.engine.privacy.evaluation import EvaluationReport, evaluate, load_jsonl

pytestmark = pytest.mark.integration

PATTERN_FLOORS = {
    "EMAIL_ADDRESS": 0.99,
    "PHONE_NUMBER": 0.97,
    "CREDIT_CARD": 0.97,
    "IBAN_CODE": 0.99,
    "IP_ADDRESS": 0.99,
    "US_SSN": 0.99,
}
MODEL_FLOORS = {"STREET_ADDRESS": 0.93, "PERSON": 0.85}


@pytest.fixture(scope="module")
def report(datasets_dir: Path) -> EvaluationReport:
    sentences = load_jsonl(datasets_dir / "pii_presidio_synth" / "pii_presidio_synth.jsonl")
    assert len(sentences) == 1020
    redactor = Redactor()
    return evaluate(sentences, lambda texts: [r.spans for r in redactor.redact_many(texts)])


@pytest.mark.parametrize(("entity", "floor"), sorted(PATTERN_FLOORS.items()))
def test_pattern_entities_reach_095_recall(report: EvaluationReport, entity: str, floor: float) -> None:
    assert floor >= 0.95
    scores = report.per_entity[entity]
    assert scores["support"] > 0
    assert scores["recall"] >= floor, scores
    assert scores["precision"] >= 0.9, scores


@pytest.mark.parametrize(("entity", "floor"), sorted(MODEL_FLOORS.items()))
def test_address_and_person_recall_floors(report: EvaluationReport, entity: str, floor: float) -> None:
    assert report.per_entity[entity]["recall"] >= floor, report.per_entity[entity]


def test_share_of_sentences_with_pii_left(report: EvaluationReport) -> None:
    assert report.sentences_with_covered_pii > 700
    assert report.sentences_with_pii_left <= 0.19
