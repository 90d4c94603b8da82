"""Unit tests for labelloop.engine.privacy: each entity kind, placeholders, offsets, errors, no network."""

from __future__ import annotations

import itertools
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.engine.privacy import ParallelRedactor, RedactedSpan, Redaction, Redactor
from labelloop.engine.privacy.evaluation import GoldSentence, GoldSpan, evaluate
from labelloop.engine.privacy.recognizers import iban_valid, luhn_valid


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture(scope="module")
def fast_redactor() -> Redactor:
    return Redactor(spacy_model=None)


def _types(redaction: Redaction) -> list[str]:
    return [s.entity_type for s in redaction.spans]


def _only(redaction: Redaction, text: str, value: str, entity: str) -> None:
    """``value`` is redacted as exactly one span of type ``entity`` whose offsets point at it."""
    matching = [s for s in redaction.spans if text[s.start : s.end] == value]
    assert len(matching) == 1, (value, redaction)
    assert matching[0].entity_type == entity
    assert f"<{entity}>" in redaction.text
    assert value not in redaction.text


@pytest.mark.parametrize(
    ("text", "value", "entity"),
    [
        ("Write to jane.doe@example.org today.", "jane.doe@example.org", "EMAIL"),
        ("Call me at (602) 272-9781 tomorrow.", "(602) 272-9781", "PHONE"),
        ("Mobile: +41 (0)96 471 07 95", "+41 (0)96 471 07 95", "PHONE"),
        ("My card 4111 1111 1111 1111 was declined.", "4111 1111 1111 1111", "CREDIT_CARD"),
        ("Maestro 6759649826438453 on file", "6759649826438453", "CREDIT_CARD"),
        ("Pay to GB82WEST12345698765432 please", "GB82WEST12345698765432", "IBAN"),
        ("Pay to gb82west12345698765432 please", "gb82west12345698765432", "IBAN"),
        ("The server 192.168.10.24 is down", "192.168.10.24", "IP_ADDRESS"),
        ("v6 host 2001:db8:85a3::8a2e:370:7334 replied", "2001:db8:85a3::8a2e:370:7334", "IP_ADDRESS"),
        ("Clone https://bob:s3cret@git.example.com/repo.git now", "https://bob:s3cret@git.example.com/repo.git",
         "URL_CREDENTIALS"),
        ("My SSN is 536-22-8726.", "536-22-8726", "US_SSN"),
        ("Please ask Mrs. Barbara Yudina about it.", "Barbara Yudina", "PERSON"),
        ("I met Angela Merkel in Berlin last year.", "Angela Merkel", "PERSON"),
        ("Send it to 1600 Pennsylvania Avenue please.", "1600 Pennsylvania Avenue", "STREET_ADDRESS"),
        ("She moved to Paris in 2019.", "Paris", "LOCATION"),
    ],
)
def test_each_entity_kind_is_redacted_with_its_type(redactor: Redactor, text: str, value: str, entity: str) -> None:
    _only(redactor.redact(text), text, value, entity)


def test_multiline_address_block_is_one_span(redactor: Redactor) -> None:
    text = "Ship to:\n28030 Edeby 55\n Apt. 297\n TYSTBERGA\n Sweden 99178\nThanks!"
    red = redactor.redact(text)
    addresses = [s for s in red.spans if s.entity_type == "STREET_ADDRESS"]
    assert len(addresses) == 1
    assert text[addresses[0].start : addresses[0].end] == "28030 Edeby 55\n Apt. 297\n TYSTBERGA\n Sweden 99178"
    assert red.text == "Ship to:\n<STREET_ADDRESS>\nThanks!"


def test_address_tail_stops_at_sentence_words(redactor: Redactor) -> None:
    text = "I'll meet you at 25615 Tawastintie 72 Apt. 004\nKNIVSTA, nan 18237 after the concert."
    red = redactor.redact(text)
    assert red.text == "I'll meet you at <STREET_ADDRESS> after the concert."


def test_luhn_invalid_card_is_not_redacted(redactor: Redactor) -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    text = "Reference 4111 1111 1111 1112 is not a card."
    red = redactor.redact(text)
    assert "CREDIT_CARD" not in _types(red)
    assert "4111 1111 1111 1112" in red.text


def test_bad_iban_checksum_is_not_redacted(redactor: Redactor) -> None:
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB83WEST12345698765432")
    red = redactor.redact("Pay to GB83WEST12345698765432 please")
    assert "IBAN" not in _types(red)


@pytest.mark.parametrize(
    "text",
    [
        "See https://example.com/docs for the 12 March 2020 release notes.",
        "We sold 3 cats and 2 dogs.",
        "He scored 25 points in 30 minutes on Route 66.",
        "Version 2.3.1 was released; see https://example.com/docs.",
    ],
)
def test_text_without_pii_is_kept(redactor: Redactor, text: str) -> None:
    red = redactor.redact(text)
    assert red.text == text
    assert red.spans == ()


def test_address_with_city_after_comma_keeps_the_full_stop(redactor: Redactor) -> None:
    assert redactor.redact("I live at 5 Main Street, Springfield.").text == "I live at <STREET_ADDRESS>."


def test_offsets_point_into_the_original_and_placeholders_rebuild_the_text(redactor: Redactor) -> None:
    text = "Mail anna.k@example.com or call 618-226-1460; card 4111111111111111."
    red = redactor.redact(text)
    assert _types(red) == ["EMAIL", "PHONE", "CREDIT_CARD"]
    rebuilt, cursor = [], 0
    for span in red.spans:
        assert isinstance(span, RedactedSpan)
        assert 0 <= span.start < span.end <= len(text)
        assert 0.0 < span.score <= 1.0
        rebuilt.append(text[cursor : span.start] + f"<{span.entity_type}>")
        cursor = span.end
    assert "".join(rebuilt) + text[cursor:] == red.text
    assert red.text == "Mail <EMAIL> or call <PHONE>; card <CREDIT_CARD>."


def test_spans_are_sorted_and_disjoint(redactor: Redactor) -> None:
    text = "Dr. Cindy Holinka Apt. 117 5720 Skoanveien 226\nFAUSKE nan 8200, cindy@example.com"
    spans = redactor.analyze(text)
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert "PERSON" in [s.entity_type for s in spans]


def test_repeated_name_is_redacted_everywhere(redactor: Redactor) -> None:
    text = "Mr. Jožef Albin had given Jožef Albin his keys."
    red = redactor.redact(text)
    assert "Jožef" not in red.text and "Albin" not in red.text


def test_entities_subset_only_redacts_those(redactor: Redactor) -> None:
    only_email = Redactor(entities=["EMAIL"], spacy_model=None)
    red = only_email.redact("Mail anna.k@example.com or call 618-226-1460")
    assert _types(red) == ["EMAIL"]
    assert "618-226-1460" in red.text


def test_unknown_entity_lists_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown entity name\(s\) \['PASSPORT'\]; supported: EMAIL, PHONE"):
        Redactor(entities=["EMAIL", "PASSPORT"], spacy_model=None)
    with pytest.raises(ValueError, match="supported: EMAIL"):
        ParallelRedactor(workers=2, entities=["NOPE"])


def test_bad_threshold_and_workers_raise() -> None:
    with pytest.raises(ValueError, match="score_threshold"):
        Redactor(spacy_model=None, score_threshold=1.5)
    with pytest.raises(ValueError, match=r"'workers' parameter of ParallelRedactor must be >= 1\. Got 0"):
        ParallelRedactor(workers=0)


def test_missing_spacy_model_is_an_error_not_a_download() -> None:
    with pytest.raises(RuntimeError, match="never downloaded at run time"):
        Redactor(spacy_model="en_core_web_lg_not_installed")


def test_fast_path_covers_patterns_but_not_location(fast_redactor: Redactor) -> None:
    text = "Mrs. Jane Porter lives in Paris, mail jane@example.org, 1600 Pennsylvania Avenue."
    red = fast_redactor.redact(text)
    assert set(_types(red)) == {"PERSON", "EMAIL", "STREET_ADDRESS"}
    assert "Paris" in red.text  # LOCATION needs the spaCy model


def test_redact_many_matches_redact_and_keeps_order(redactor: Redactor) -> None:
    texts = ["Call 618-226-1460", "", "nothing here", "Mail a@example.org", "Mr. John Smith"]
    assert redactor.redact_many(texts) == [redactor.redact(t) for t in texts]
    assert redactor.redact("") == Redaction(text="", spans=())


def test_no_network_during_build_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build a redactor and redact with every socket connection refused (tldextract must use its snapshot)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = Redactor(entities=["EMAIL", "URL_CREDENTIALS", "PERSON"])
    red = fresh.redact("Write to someone@mail.example.co.uk or Mrs. Ada Lovelace at https://u:p@x.example.com/")
    assert _types(red) == ["EMAIL", "PERSON", "URL_CREDENTIALS"]


def test_parallel_in_process_matches_redactor(redactor: Redactor) -> None:
    texts = [f"Mail user{i}@example.org or call 618-226-{1000 + i}" for i in range(30)]
    with ParallelRedactor(workers=1) as pr:
        assert pr.redact_many(texts) == redactor.redact_many(texts)


def test_parallel_pool_preserves_order() -> None:
    texts = [f"Card {n} and ip 10.0.0.{i}" for i, n in enumerate(["4111111111111111", "x"] * 10)]
    expected = Redactor(spacy_model=None).redact_many(texts)
    with ParallelRedactor(workers=2, chunk_size=3, spacy_model=None) as pr:
        assert pr.redact_many(texts) == expected
        assert len(pr.worker_pids()) == 2
    with pytest.raises(RuntimeError, match="closed"):
        pr.redact_many(texts)


def test_evaluator_counts_tokens_like_presidio_research() -> None:
    sentences = [
        GoldSentence("a", "Ann Lee lives in Oslo", (GoldSpan(0, 7, "PERSON"), GoldSpan(17, 21, "GPE"))),
        GoldSentence("b", "mail x@y.com now", (GoldSpan(5, 12, "EMAIL_ADDRESS"),)),
    ]
    predictions = [
        [RedactedSpan(0, 3, "PERSON", 0.9), RedactedSpan(17, 21, "PERSON", 0.9)],
        [RedactedSpan(5, 12, "EMAIL", 1.0)],
    ]
    report = evaluate(sentences, lambda texts: predictions)
    assert report.per_entity["PERSON"] == {"recall": 0.5, "precision": 0.5, "support": 2}
    assert report.per_entity["GPE"]["recall"] == 0.0
    assert report.per_entity["EMAIL_ADDRESS"] == {"recall": 1.0, "precision": 1.0, "support": 1}
    # "Lee" is left in sentence a; the GPE token is covered (as PERSON), which still counts as redacted.
    assert report.sentences_with_pii_left == 0.5


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab AZ019@.:-/\n,")) | st.characters(), max_size=80))
def test_redaction_invariants_on_arbitrary_text(fast_redactor: Redactor, text: str) -> None:
    """Spans are sorted, disjoint, inside the text, and placeholders rebuild the redacted text."""
    red = fast_redactor.redact(text)
    previous_end = 0
    rebuilt = []
    for span in red.spans:
        assert previous_end <= span.start < span.end <= len(text)
        rebuilt.append(text[previous_end : span.start] + f"<{span.entity_type}>")
        previous_end = span.end
    assert "".join(rebuilt) + text[previous_end:] == red.text
