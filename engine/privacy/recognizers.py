"""Recognizers that Presidio does not ship, or ships with a network dependency we cannot accept.

Why these exist:

* ``OfflineEmailRecognizer``: Presidio's ``EmailRecognizer`` validates the domain with the module-level
  ``tldextract.extract``, which downloads the public-suffix list on first use. Ours takes a ``TLDExtract``
  configured with no suffix-list URLs and no disk cache, so it only ever reads the snapshot bundled with the
  package (see :func:`offline_tld_extractor`).
* ``UrlCredentialsRecognizer``: a URL carrying ``user:password@`` is a secret, whatever the host.
* ``StreetAddressRecognizer``: Presidio has no street-address recognizer. Ours is general (no sentence
  templates): an address *head* (house number + street words + street type, a street-type word + number, a
  number + capitalised words + number, military PSC/Unit boxes, "the corner of A and B") extended over unit
  designators (Apt./Suite/Unit) and the short city / state / country / postcode segments that follow it on the
  same line after a comma or on the next lines. An address block is one ``STREET_ADDRESS``: the city inside a
  block is redacted as part of the address, not as a separate ``LOCATION``.
* ``TitledPersonRecognizer``: capitalised words after an honorific (Mr., Dr., Mrs. ...) or after explicit name
  cues ("my name is", "Dear"): cheap, model-free, and catches names the small spaCy model misses.
* ``ContextPhoneRecognizer``: digit groups that look like a phone number *and* follow a phone cue word
  (phone, mobile, fax, tel, call ...), for international formats python-phonenumbers does not accept for the
  regions we give it.

All recognizers are plain objects built by :class:`labelloop.engine.privacy.redactor.Redactor`; nothing is
created at import time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import tldextract
from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

__all__ = [
    "CaseInsensitiveIbanRecognizer",
    "ContextPhoneRecognizer",
    "LuhnCardRecognizer",
    "OfflineEmailRecognizer",
    "ProperNounPersonRecognizer",
    "StreetAddressRecognizer",
    "TitledPersonRecognizer",
    "UrlCredentialsRecognizer",
    "english_lexicon",
    "offline_tld_extractor",
]


def offline_tld_extractor() -> tldextract.TLDExtract:
    """A ``TLDExtract`` that never touches the network or the disk.

    ``suffix_list_urls=()`` removes the remote lists, ``cache_dir=None`` disables the on-disk cache, and
    ``fallback_to_snapshot=True`` makes it use the suffix list bundled inside the tldextract wheel.
    """
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email pattern, validated with an offline suffix list (see module docstring)."""

    def __init__(self, *, extractor: tldextract.TLDExtract, supported_entity: str = "EMAIL") -> None:
        super().__init__(supported_entity=supported_entity)
        self._extractor = extractor

    def validate_result(self, pattern_text: str) -> bool:
        """An address whose domain has a known public suffix is confirmed (score raised to 1.0)."""
        return self._extractor(pattern_text).fqdn != ""


class UrlCredentialsRecognizer(PatternRecognizer):
    """``scheme://user:password@host/...``: the whole URL is redacted because the password is in it."""

    PATTERNS = [
        Pattern(
            "url_with_credentials",
            r"\b[A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s:/@]+:[^\s/@]+@[^\s/?#]+[^\s\"'<>)\]]*",
            0.9,
        )
    ]

    def __init__(self, *, supported_entity: str = "URL_CREDENTIALS") -> None:
        super().__init__(supported_entity=supported_entity, patterns=self.PATTERNS, name="UrlCredentialsRecognizer")


# --------------------------------------------------------------------------------------------------------------
# Street addresses
# --------------------------------------------------------------------------------------------------------------

# USPS street suffixes (Publication 28, appendix C1) and their common abbreviations, plus a few UK/AU forms.
_STREET_TYPES = (
    "street|st|road|rd|avenue|ave|av|drive|dr|lane|ln|place|pl|court|ct|crescent|cres|boulevard|blvd|way|terrace|"
    "ter|parade|highway|hwy|circle|cir|square|sq|parkway|pkwy|trail|trl|alley|aly|row|close|grove|gardens|walk|"
    "path|pike|loop|mall|pass|cove|coves|park|parks|lodge|gateway|crossroad|crossroads|crossing|extension|"
    "extensions|ridge|heights|hill|hills|view|vista|valley|meadow|meadows|manor|mews|plaza|point|port|quay|"
    "rise|run|shore|shores|spring|springs|station|summit|track|turnpike|union|village|villages|wharf|wood|woods|"
    "junction|knoll|knolls|landing|light|lights|mill|mills|mission|motorway|mount|mountain|oval|orchard|passage|"
    "pines|plain|plains|prairie|ranch|rapids|rest|route|skyway|square|squares|stravenue|stream|streets|fort|"
    "ferry|field|fields|flat|flats|ford|forest|forge|fork|freeway|glen|green|greens|harbor|harbour|haven|"
    "hollow|inlet|island|isle|key|lake|lakes|bay|beach|bend|bluff|branch|bridge|brook|brooks|burg|bypass|camp|"
    "canyon|cape|causeway|center|centre|cliff|cliffs|club|common|corner|corners|course|creek|crest|curve|dale|"
    "dam|divide|estate|estates|expressway|falls|garden|grove|groves|neck|overpass|radial|ramp|shoal|spur|"
    "throughway|trace|trafficway|tunnel|underpass|viaduct|ville|wall|well|wells|broadway|esplanade|promenade"
)
# Words that *precede* the street name in many languages (ul. Miła, Via Roma, Rue de Tanger, C/ Mayor ...).
_STREET_PREFIXES = (
    r"ul\.|ulica|al\.|aleja|via|viale|vicolo|piazza|piazzale|corso|largo|strada|rue|avenue|av\.|avda\.|avenida|"
    r"rua|calle|c/|plaza|paseo|camino|carrer|travessa|praça|rúa|chemin|route|allée|boulevard|bd|impasse|quai|"
    r"platz|strasse|straße|gasse|weg|ring|πλατεία|οδός|odos|ulitsa|ul|utca|út|útja|tér|u\."
)
# Street-type endings glued to the street name (Puruntie, Magrethevej, Loorenstrasse, Nybyvägen ...).
_STREET_ENDINGS = (
    "strasse|straße|str\\.|gasse|weg|vej|veien|vegen|gata|gatan|gaten|gade|vägen|väg|katu|tie|kuja|polku|laan|"
    "straat|steeg|plein|gracht|kade|dreef|allee|platz|damm|ring|gränd|stig|braut|brekka|stræde|stræti|straeti|"
    "centret|bakken|lia|lien|haugen|ovej|utca|útja|cesta|ulica|gasse|ská|ská|ova|eva|ovo|evo|ská"
)

_LETTER = r"[^\W\d_]"
_WORD = rf"{_LETTER}[\w'’\-]*\.?"
_NUM = r"\d{1,6}[A-Za-z]?"
_SEP_INLINE = r"[ \t]+"
_MONTHS = {
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
}
_SENTENCE_GLUE = {
    "at",
    "to",
    "in",
    "is",
    "on",
    "for",
    "from",
    "by",
    "are",
    "was",
    "were",
    "the",
    "my",
    "me",
    "us",
    "it",
    "its",
    "and",
    "or",
    "of",
    "with",
    "a",
    "an",
    "be",
    "this",
    "that",
    "here",
    "there",
}
_CONNECTORS = {
    "de",
    "del",
    "da",
    "do",
    "dos",
    "das",
    "di",
    "della",
    "la",
    "le",
    "les",
    "du",
    "des",
    "van",
    "der",
    "den",
    "von",
    "am",
    "an",
    "im",
    "nad",
    "pod",
    "u",
    "y",
    "e",
    "i",
    "och",
    "og",
    "of",
    "the",
    "and",
}


def _compile_heads() -> list[tuple[re.Pattern[str], float, str]]:
    """Address-head patterns with their scores; the strongest first."""
    words = rf"(?:{_WORD}{_SEP_INLINE}){{0,4}}"
    heads = [
        # 123 [45] Main Street | 74678 midtvollen 130 St.
        (
            rf"\b{_NUM}(?:{_SEP_INLINE}{_NUM})?{_SEP_INLINE}{words}(?:{_WORD}{_SEP_INLINE})?"
            rf"(?:{_NUM}{_SEP_INLINE})?(?:{_STREET_TYPES})\b\.?",
            0.7,
        ),
        # [123] Via Roma 131 | ul. Miła 53 | Rue de Tanger 29
        (
            rf"(?:\b{_NUM}{_SEP_INLINE})?(?<![\w.])(?:{_STREET_PREFIXES}){_SEP_INLINE}{words}{_WORD}?"
            rf"[ \t]*{_NUM}\b\.?",
            0.7,
        ),
        # [123] Loorenstrasse 149 | Puruntie 82 | Kálmán Imre u. 12.
        (rf"(?:\b{_NUM}{_SEP_INLINE})?{words}\b{_LETTER}{{3,}}(?:{_STREET_ENDINGS}){_SEP_INLINE}{_NUM}\b\.?", 0.65),
        # 28245 Edeby 55 (number, capitalised words, number): checked for capitals and months in Python
        (rf"\b{_NUM}{_SEP_INLINE}(?:{_WORD}{_SEP_INLINE}){{1,4}}{_NUM}\b\.?", 0.6),
        # Military: PSC 2721, Box 8637 / APO AA 06259; Unit 4719 Box 7394 / DPO AP 70942; USNS Name / FPO AE 12345
        (
            r"\b(?:(?:PSC|Unit)\s+\d{3,5},?\s+Box\s+\d{3,5}|(?:USNS|USNV|USS|USCGC)\s+[^\W\d_]+(?:\s+[^\W\d_]+)?)"
            r"\s*\n?\s*(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5}\b",
            0.8,
        ),
        # the corner of Dalbraut 99 and Frederikke Coves
        (
            r"(?:\bthe\s+)?\bcorner\s+of\s+(?:[\w'’.\-/]+[ \t]+){0,4}?[\w'’.\-/]+[ \t]+and[ \t]+"
            r"(?:[\w'’.\-/]+[ \t]+){0,3}?[\w'’\-/]+\.?(?=[ \t]*(?:[,.;:!?)]|$|\n|[ \t]+(?:St\.|Street)))",
            0.72,
        ),
        # Kálmán Imre u. 12. | Rákóczi út 13. (street type written after the name, as in Hungarian)
        (rf"(?:\b{_NUM}{_SEP_INLINE})?{words}(?:u\.|út|útja|utca|tér|körút|krt\.){_SEP_INLINE}{_NUM}\b\.?", 0.65),
    ]
    flags = [re.IGNORECASE, re.IGNORECASE, re.IGNORECASE, 0, re.IGNORECASE, 0, re.IGNORECASE]
    kinds = ["typed", "prefixed", "suffixed", "generic", "military", "corner", "suffixed"]
    return [(re.compile(p, f), s, k) for (p, s), f, k in zip(heads, flags, kinds, strict=True)]


_UNIT = re.compile(
    r"(?:^|(?<=[\s,>]))(?:apt\.?|apartment|suite|ste\.?|unit|flat)[ \t]*#?[ \t]*\d{1,6}[A-Za-z]?\b\.?",
    re.IGNORECASE,
)
_ZIP = r"(?:\d{1,6}(?:-\d{3,4})?|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|\d{4}[ \t]?[A-Z]{2}|\d{3}[ \t]\d{2}|\d{2}-\d{3})"
_TAIL_TOKEN_RE = re.compile(rf"(?:{_ZIP}|\({_WORD}(?:[ \t]+{_WORD})*\)|{_LETTER}[\w'’\-]*\.?)(?![\w@:/])")
_TAIL_SEP = re.compile(r"[ \t]*(?:,[ \t]*)?(?:\n(?:[ \t]*(?:[>*\-|?#]+[ \t]*)*))?[ \t]*(?:,[ \t]*)?(?=\S)")


_ABBREVIATION = re.compile(r"[a-z]{1,3}\.")


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper() or token[:1].isdigit()


class StreetAddressRecognizer(LocalRecognizer):
    """General street-address recognizer (heads + units + city/state/postcode tails); see the module docstring."""

    def __init__(self, *, supported_entity: str = "STREET_ADDRESS", max_tail_segments: int = 4) -> None:
        self._heads = _compile_heads()
        self._max_tail = max_tail_segments
        super().__init__(supported_entities=[supported_entity], name="StreetAddressRecognizer")

    def load(self) -> None:
        """Nothing to load: the patterns are compiled in ``__init__``."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Return one result per address block (overlapping candidates are merged)."""
        if self.supported_entities[0] not in entities:
            return []
        candidates: list[tuple[int, int, float]] = []
        lowercase_text = not any(c.isupper() for c in text)
        for pattern, score, kind in self._heads:
            for m in pattern.finditer(text):
                start, end = m.start(), m.end()
                if kind == "generic" and not self._plausible_generic(m.group(0)):
                    continue
                if kind == "typed" and not lowercase_text and not self._capitalised_street(m.group(0)):
                    continue
                if kind in ("prefixed", "suffixed") and not text[start].isdigit():
                    start = self._skip_lowercase_lead(text, start, end)
                candidates.append((start, end, score))
        for m in _UNIT.finditer(text):
            street_start = self._street_line_before(text, m.start())
            if street_start is not None:
                candidates.append((street_start, m.end(), 0.6))
            else:
                candidates.append((m.start(), m.end(), 0.45))
        if not candidates:
            return []
        blocks = self._merge(text, candidates)
        results = []
        for start, end, score in blocks:
            end = self._extend_tail(text, end, strong=score >= 0.6)
            start, end = self._trim(text, start, end)
            if end > start:
                results.append(RecognizerResult(self.supported_entities[0], start, end, score))
        return results

    @staticmethod
    def _capitalised_street(span: str) -> bool:
        """``30 Farnell Street`` yes, ``30 minutes on Route`` no (unless the whole text is lower case)."""
        words = [w for w in span.split() if not w[0].isdigit()][:-1]
        return all(_is_capitalised(w) or w.lower() in _CONNECTORS or _ABBREVIATION.fullmatch(w) for w in words)

    @staticmethod
    def _skip_lowercase_lead(text: str, start: int, end: int) -> int:
        """Drop sentence words swept in before the street name ("refers to Árpád fejedelem útja 3.")."""
        pos = start
        for m in re.finditer(r"\S+", text[start:end]):
            tok = m.group(0)
            if tok[0].isupper() or tok[0].isdigit() or re.fullmatch(rf"(?:{_STREET_PREFIXES})", tok, re.IGNORECASE):
                return start + m.start()
            pos = start + m.end()
        return start if pos >= end else pos

    @staticmethod
    def _street_line_before(text: str, unit_start: int) -> int | None:
        """Start of the street line above a unit line ("636 Rue De La Gare" / " Apt. 271"), if there is one.

        Only when the unit opens its line; the street part is the longest tail of the previous line made of
        numbers, capitalised words, connectors and short lowercase words (not sentence glue such as "at", "to"),
        and it must hold a number.
        """
        line_start = text.rfind("\n", 0, unit_start) + 1
        if line_start == 0 or re.search(r"[^\s>*|?#\-]", text[line_start:unit_start]):
            return None
        prev_start = text.rfind("\n", 0, line_start - 1) + 1
        tokens = list(re.finditer(r"\S+", text[prev_start : line_start - 1]))
        start = None
        has_number = False
        for m in reversed(tokens):
            tok = m.group(0).rstrip(",")
            if not tok or ":" in tok or "@" in tok:
                break
            if tok[0].isdigit():
                has_number = True
            elif not (
                tok[0].isupper() or tok.lower() in _CONNECTORS or (len(tok) <= 4 and tok.lower() not in _SENTENCE_GLUE)
            ):
                break
            start = prev_start + m.start()
        return start if has_number and start is not None else None

    @staticmethod
    def _plausible_generic(span: str) -> bool:
        """``12 Edeby 55`` is an address; ``12 March 2020`` or ``3 cats and 2`` is not."""
        words = list(span.split()[1:-1])
        if not words or words[-1].lower().rstrip(".") in _MONTHS:
            return False
        if any(w.lower().rstrip(".") in _MONTHS for w in words):
            return False
        content = [w for w in words if w.lower() not in _CONNECTORS and not _ABBREVIATION.fullmatch(w)]
        return bool(content) and all(_is_capitalised(w) for w in content) and _is_capitalised(words[0])

    @staticmethod
    def _merge(text: str, candidates: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
        """Merge overlapping candidates and those separated only by spaces, commas or a newline."""
        candidates.sort()
        merged: list[list[float]] = []
        for start, end, score in candidates:
            if merged:
                last = merged[-1]
                gap = text[int(last[1]) : start]
                if start <= last[1] or (len(gap) <= 6 and re.fullmatch(r"[\s,]*", gap)):
                    last[1] = max(last[1], end)
                    last[2] = max(last[2], score)
                    continue
            merged.append([start, end, score])
        return [(int(s), int(e), float(sc)) for s, e, sc in merged]

    def _extend_tail(self, text: str, end: int, *, strong: bool) -> int:
        """Absorb the city / state / country / postcode segments that follow an address head.

        A segment is what follows a comma or a line break (or, right after a house number or unit, a space): the
        longest run of at most five tail tokens (capitalised words, lowercase connectors between them, postcodes,
        two-letter codes, ``nan``). The run stops at the first other token, so "... 75419? I am" or
        "18237 after the concert" end the block where the address ends; ':' and '@' lines never join.
        """
        if not strong:
            return end
        pos = end
        segments = 0
        while segments < self._max_tail:
            m = _TAIL_SEP.match(text, pos)
            if m is None:
                break
            sep = m.group(0)
            if "\n" not in sep and "," not in sep and not re.search(r"(?:\d|\.)$", text[max(0, pos - 1) : pos]):
                break  # a plain space continues only after a house number or a unit ("Apt. 678 Velenje")
            run_end = self._tail_run(text, m.end())
            if run_end is None:
                break
            unit = _UNIT.fullmatch(text[m.end() : run_end].strip())
            pos = run_end
            if not unit:
                segments += 1
                if text[run_end - 1].isdigit():
                    break  # a postcode closes the block
        return pos

    @staticmethod
    def _tail_run(text: str, pos: int) -> int | None:
        """End of the longest run of tail tokens starting at ``pos`` (None if it holds no content token)."""
        unit = _UNIT.match(text, pos)
        if unit and unit.start() == pos:
            return unit.end()
        cursor = pos
        end = None
        count = 0
        pending_connector = False
        while count < 5:
            m = _TAIL_TOKEN_RE.match(text, cursor)
            if m is None:
                break
            tok = m.group(0)
            if tok.lower() in _CONNECTORS and not tok[0].isupper():
                pending_connector = True
            elif _is_capitalised(tok) or tok in ("nan", "(") or tok.startswith("("):
                end = m.end()
                pending_connector = False
            else:
                break
            count += 1
            gap = re.match(r"[ \t]*,?[ \t]*", text[m.end() :])
            cursor = m.end() + (gap.end() if gap else 0)
            if cursor == m.end():
                break
        del pending_connector
        if end is None:
            return None
        line = text[pos:end]
        if ":" in line or "@" in line or re.search(r"\d{7,}", line):
            return None
        return end

    @staticmethod
    def _trim(text: str, start: int, end: int) -> tuple[int, int]:
        while end > start and text[end - 1] in " \t\n,;":
            end -= 1
        while start < end and text[start] in " \t\n,;":
            start += 1
        if end > start and text[end - 1] == "." and re.search(r"[^\W\d_]{4,}\.$", text[start:end]):
            end -= 1  # a sentence's full stop, not an abbreviation ("St.", "u.") or a house number ("62.")
        return start, end


# --------------------------------------------------------------------------------------------------------------
# Person names after honorifics and explicit cues
# --------------------------------------------------------------------------------------------------------------

_HONORIFIC = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Mme|Mlle|Herr|Frau|Sr|Sra|Srta|Capt|Rev)\.?[ \t]+"
)
# Phrases after which English text names a person. Matched case-insensitively; the name itself must be
# capitalised (see _name_run), which keeps "called it a day" or "named after" out.
_NAME_CUE = re.compile(
    r"(?:\b(?:my|his|her|their|your|our)\s+(?:\w+\s+)?name\s+is|\b(?:first|last|full|user|account)\s*name"
    r"(?:\s+is|\s*[:?])|\bname\s*:|\bDear|\bsigned\s*,?|\b(?:Regards|Sincerely|Cheers|Thanks|Best),?\s*\n"
    r"|\bcall(?:s|ed)?\s+me|\b(?:was|is|be|were|are)\s+called|\bnamed(?:\s+(?:him|her|them|it))?|"
    r"\b(?:my|his|her|our|their|your)\s+(?:kid|son|daughter|child|wife|husband|partner|friend|boyfriend|"
    r"girlfriend|mother|father|mom|mum|dad|brother|sister|uncle|aunt|cousin|grandmother|grandfather|boss|"
    r"colleague|manager|neighbou?r|tenant|landlord|doctor|lawyer)(?:'s\s+name)?|\b(?:follow\s+up|speak|talk|meet|met|"
    r"spoke|talked|check|chat)\s+(?:with|to)|\bcontact\s+person\s*:?|\b(?:I\s+am|I'm|this\s+is)"
    r"(?=\s+[A-Z][a-z]+\s+[A-Z]))[ \t]*",
    re.IGNORECASE,
)
# A whole line that is a name with a middle initial ("Ella H. Snider", ">Maja S Hermansen").
_INITIAL_NAME_LINE = re.compile(
    r"(?m)^[ \t>*\-|?#]*([^\W\d_][^\W\d_'’\-]+[ \t]+[^\W\d_]\.?[ \t]+[^\W\d_][^\W\d_'’\-]+)[ \t]*$"
)
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*\.?|[^\W\d_]\.")


def _name_run(text: str, pos: int, max_tokens: int = 4) -> tuple[int, int] | None:
    """The run of capitalised name tokens (initials allowed) starting at ``pos``."""
    end = pos
    count = 0
    cursor = pos
    while count < max_tokens:
        m = _NAME_TOKEN.match(text, cursor)
        if not m or not m.group(0)[0].isupper():
            break
        end = m.end()
        count += 1
        if m.group(0).endswith(".") and len(m.group(0)) > 2:
            break  # "Kuefer." ends the sentence; only initials ("H.") carry on
        ws = re.match(r"[ \t]+", text[end:])
        if not ws:
            break
        cursor = end + ws.end()
    if count == 0:
        return None
    while end > pos and text[end - 1] == "." and not re.search(r"\b\w\.$", text[pos:end]):
        end -= 1
    return pos, end


class TitledPersonRecognizer(LocalRecognizer):
    """Names after an honorific (``Mrs. Barbara Yudina``) or a name cue (``my name is``, ``Dear``, ``call me``,
    ``follow up with``), and lines that are a name with a middle initial (signature and contact blocks).

    The honorific itself is not redacted: it is not identifying and the shared dataset labels it ``TITLE``.
    """

    def __init__(self, *, supported_entity: str = "PERSON") -> None:
        super().__init__(supported_entities=[supported_entity], name="TitledPersonRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Score 0.7 after an honorific, 0.6 after a softer cue."""
        if self.supported_entities[0] not in entities:
            return []
        entity = self.supported_entities[0]
        results = []
        for pattern, score in ((_HONORIFIC, 0.7), (_NAME_CUE, 0.6)):
            for m in pattern.finditer(text):
                run = _name_run(text, m.end())
                if run:
                    results.append(RecognizerResult(entity, run[0], run[1], score))
        for m in _INITIAL_NAME_LINE.finditer(text):
            tokens = m.group(1).split()
            if all(t[0].isupper() for t in tokens):
                results.append(RecognizerResult(entity, m.start(1), m.end(1), 0.6))
        return results


# --------------------------------------------------------------------------------------------------------------
# Phone numbers after a cue word
# --------------------------------------------------------------------------------------------------------------

_PHONE_CUE = re.compile(
    r"\b(?:phone|telephone|tel|mobile|cell|cellphone|fax|desk|call|calling|contact|number|whatsapp|sms|text)\b"
    r"[^\n\d+]{0,25}$",
    re.IGNORECASE,
)
_PHONE_SHAPE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ \t.\-]?)?(?:\(\d{1,4}\)[ \t.\-]?)?\d{1,4}(?:[ \t.\-]\d{1,4}){1,5}(?:[ \t]*(?:x|ext\.?)"
    r"[ \t]*\d{1,5})?(?![\w])|(?<![\w+])\+?\d{8,13}(?!\w)"
)


class ContextPhoneRecognizer(LocalRecognizer):
    """Digit groups of phone length (7-15 digits) that follow a phone cue word within 25 characters."""

    def __init__(self, *, supported_entity: str = "PHONE") -> None:
        super().__init__(supported_entities=[supported_entity], name="ContextPhoneRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Score 0.6: the cue word is what makes a bare digit group a phone number."""
        if self.supported_entities[0] not in entities:
            return []
        return [RecognizerResult(self.supported_entities[0], s, e, 0.6) for s, e in self._matches(text)]

    @staticmethod
    def _matches(text: str) -> Iterator[tuple[int, int]]:
        for m in _PHONE_SHAPE.finditer(text):
            digits = sum(c.isdigit() for c in m.group(0))
            if not 7 <= digits <= 15:
                continue
            if _PHONE_CUE.search(text[max(0, m.start() - 40) : m.start()]):
                yield m.start(), m.end()


# --------------------------------------------------------------------------------------------------------------
# Payment cards and IBANs
# --------------------------------------------------------------------------------------------------------------

_CARD_SHAPE = re.compile(r"(?<![\w\-])\d(?:[ \-]?\d){11,18}(?![\w\-])")
# Issuer prefixes (IIN ranges) and lengths of the card networks in ISO/IEC 7812 use.
_CARD_RULES: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"4"), frozenset({13, 16, 19})),  # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), frozenset({16})),  # Mastercard
    (re.compile(r"3[47]"), frozenset({15})),  # Amex
    (re.compile(r"3(?:0[0-5]|095|[689])"), frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    (re.compile(r"35"), frozenset({16, 17, 18, 19})),  # JCB (3528-3589 assigned; generators use all of 35xx)
    (re.compile(r"2131|1800"), frozenset({15})),  # JCB (old)
    (re.compile(r"6011|64[4-9]|65|622"), frozenset({16, 17, 18, 19})),  # Discover / UnionPay co-brand
    (re.compile(r"62"), frozenset({16, 17, 18, 19})),  # UnionPay
    (re.compile(r"5[06-9]|6\d"), frozenset(range(12, 20))),  # Maestro
)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class LuhnCardRecognizer(LocalRecognizer):
    """Payment card numbers: 12-19 digits (spaces/dashes allowed), a known issuer prefix and length, Luhn-valid.

    Presidio's ``CreditCardRecognizer`` only knows the older Visa/Mastercard/Amex/Discover/Diners prefixes and
    misses 19-digit Visa, 2-series Mastercard, Maestro and JCB 2131/1800 numbers; a Luhn failure is never
    redacted as a card (random digit runs pass Luhn 1 time in 10, the prefix rule cuts that further).
    """

    def __init__(self, *, supported_entity: str = "CREDIT_CARD") -> None:
        super().__init__(supported_entities=[supported_entity], name="LuhnCardRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Score 0.9 for a valid number (it beats a phone reading of the same digits)."""
        if self.supported_entities[0] not in entities:
            return []
        results = []
        for m in _CARD_SHAPE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if not luhn_valid(digits):
                continue
            if any(rule.match(digits) and len(digits) in lengths for rule, lengths in _CARD_RULES):
                results.append(RecognizerResult(self.supported_entities[0], m.start(), m.end(), 0.9))
        return results


_IBAN_SHAPE = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,4})?(?![\w])")


def iban_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 check on the upper-cased, space-free IBAN."""
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return int(numeric) % 97 == 1


class CaseInsensitiveIbanRecognizer(LocalRecognizer):
    """IBANs in any letter case (Presidio's recognizer only matches upper case), mod-97 validated."""

    def __init__(self, *, supported_entity: str = "IBAN") -> None:
        super().__init__(supported_entities=[supported_entity], name="CaseInsensitiveIbanRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Score 1.0: the checksum makes a false match very unlikely."""
        if self.supported_entities[0] not in entities:
            return []
        return [
            RecognizerResult(self.supported_entities[0], m.start(), m.end(), 1.0)
            for m in _IBAN_SHAPE.finditer(text)
            if iban_valid(m.group(0))
        ]


# --------------------------------------------------------------------------------------------------------------
# Proper-noun runs the NER model did not label
# --------------------------------------------------------------------------------------------------------------

_NOT_PERSON_LABELS = frozenset(
    {
        "ORG",
        "GPE",
        "LOC",
        "FAC",
        "NORP",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
        "DATE",
        "TIME",
        "MONEY",
        "QUANTITY",
        "PERCENT",
        "CARDINAL",
        "ORDINAL",
    }
)


def english_lexicon(nlp: Any) -> frozenset[str]:
    """Lower-case English words from a spaCy pipeline's rule lemmatizer index (empty if it has none)."""
    if "lemmatizer" not in getattr(nlp, "pipe_names", ()):
        return frozenset()
    lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if lookups is None or not lookups.has_table("lemma_index"):
        return frozenset()
    index = lookups.get_table("lemma_index")
    words: set[str] = set()
    for pos in index:
        words.update(w for w in index[pos] if w.isalpha())
    return frozenset(words)


class ProperNounPersonRecognizer(LocalRecognizer):
    """Runs of 2-4 capitalised proper nouns (spaCy's tagger says PROPN) that NER left unlabelled.

    The small English model's NER misses many non-English names ("Krisztián Szöllösy") that its part-of-speech
    tagger still marks as proper nouns; a multi-token proper-noun run that NER did not call an organisation,
    place or date is most often a person. Single tokens are left out (too many capitalised common nouns).
    Needs a spaCy pipeline with a tagger; with the blank fast path it finds nothing.

    The small model also labels many unfamiliar names ORG ("Homero Portillo"). With an English ``lexicon`` (the
    WordNet word index that ships inside the spaCy pipeline's lemmatizer), an ORG-labelled run none of whose
    words is an English word is taken as a name: company names are mostly built from words ("Scale Unlimited",
    "Otc Markets"), personal names mostly not.
    """

    def __init__(
        self, *, supported_entity: str = "PERSON", min_tokens: int = 2, lexicon: frozenset[str] = frozenset()
    ) -> None:
        self._min_tokens = min_tokens
        self._lexicon = lexicon
        super().__init__(supported_entities=[supported_entity], name="ProperNounPersonRecognizer")

    def load(self) -> None:
        """Nothing to load: reads the tags already in the NLP artifacts."""

    def _single_name(self, run: list[Any]) -> bool:
        """One proper noun that NER left alone and that is not an English word ("Kastner", not "Battery")."""
        return (
            len(run) == 1
            and bool(self._lexicon)
            and run[0].ent_type_ == ""
            and len(run[0].text) > 2
            and not self._is_word(run[0].text)
        )

    def _is_word(self, text: str) -> bool:
        low = text.rstrip(".").lower()
        return low in self._lexicon or (low.endswith("s") and low[:-1] in self._lexicon)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Score 0.45 (below the NER's 0.85): used only where nothing stronger claims the span."""
        if self.supported_entities[0] not in entities or nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        doc = nlp_artifacts.tokens
        results = []
        run: list[Any] = []
        for token in [*doc, None]:
            if token is not None and self._is_name_token(token):
                run.append(token)
                continue
            if (len(run) >= self._min_tokens or self._single_name(run)) and self._run_is_name(doc, run):
                start, end = run[0].idx, run[-1].idx + len(run[-1].text)
                results.append(RecognizerResult(self.supported_entities[0], start, end, 0.45))
            run = []
        return results

    def _is_name_token(self, token: Any) -> bool:
        text: str = token.text
        if token.pos_ != "PROPN" or token.tag_ == "NNPS":
            return False
        if token.ent_type_ in _NOT_PERSON_LABELS and not (token.ent_type_ == "ORG" and self._lexicon):
            return False
        if not text[:1].isupper() or (text.isupper() and len(text) > 2):
            return False
        return text.rstrip(".").replace("-", "").replace("'", "").isalpha()

    def _run_is_name(self, doc: Any, run: list[Any]) -> bool:
        """Reject organisation-like runs ("Palantir Technologies"), "the ..." phrases and "Label:" headings.

        "a Homero Portillo concert" stays a name: only the definite article marks a title-like phrase.
        """
        if any(t.text.rstrip(".").lower() in _ORG_WORDS for t in run):
            return False
        if any(t.ent_type_ == "ORG" for t in run) and any(self._is_word(t.text) for t in run):
            return False
        before = doc[run[0].i - 1] if run[0].i > 0 else None
        after = doc[run[-1].i + 1] if run[-1].i + 1 < len(doc) else None
        if before is not None and before.lower_ == "the":
            return False  # "the Princess Royal", "The Big Three": definite descriptions, not a person's name
        return not (after is not None and after.text == ":")


_ORG_WORDS = frozenset(
    "inc ltd llc plc gmbh ag sa co corp corporation company companies group holdings technologies technology "
    "systems solutions services consulting partners associates bank capital markets insurance industries labs "
    "university college institute foundation association society club orchestra band records studios media "
    "network networks software analytics international global agency council committee ministry department "
    "hospital school academy church transit movers sons brothers airlines motors energy pharma".split()
)
