"""The ingest's view of PII redaction: texts in, (redacted text, entity counts) out.

:func:`open_redactor` picks the implementation from the privacy policy: none, one in-process
:class:`~labelloop.engine.privacy.Redactor`, or a process pool for large ingests (redaction costs milliseconds
per text, the rest of ingest microseconds). Use it as a context manager so the pool is shut down.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from labelloop.engine.config import PrivacyConfig

log = logging.getLogger(__name__)


class TextRedactor(Protocol):
    def redact_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, int]]]: ...


class NoRedaction:
    """Used only when the policy says ``redact: false``."""

    def redact_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, int]]]:
        return [(t, {}) for t in texts]


class _PresidioRedaction:
    """In-process redaction for small batches; a process pool, started on first need, for large ones."""

    def __init__(self, kwargs: dict[str, Any], workers: int, min_parallel_rows: int) -> None:
        from labelloop.engine.privacy.redactor import Redactor

        self._kwargs = kwargs
        self._workers = workers
        self._min_parallel = min_parallel_rows
        self._single = Redactor(**kwargs)
        self._pool: Any | None = None

    def redact_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, int]]]:
        if not texts:
            return []
        engine = self._single
        if self._workers > 1 and len(texts) >= self._min_parallel:
            if self._pool is None:
                from labelloop.engine.privacy import ParallelRedactor

                log.info("starting redaction pool workers=%d", self._workers)
                self._pool = ParallelRedactor(workers=self._workers, **self._kwargs).__enter__()
            engine = self._pool
        return [(r.text, dict(Counter(s.entity_type for s in r.spans))) for r in engine.redact_many(texts)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.__exit__(None, None, None)
            self._pool = None


def resolve_workers(workers: int | str) -> int:
    return max(1, os.cpu_count() or 1) if workers == "auto" else int(workers)


@contextmanager
def open_redactor(policy: PrivacyConfig) -> Iterator[TextRedactor]:
    """A redactor for one ingest, following ``policy`` (see :class:`PrivacyConfig`)."""
    if not policy.redact:
        log.warning("PII redaction is OFF (privacy.redact: false): texts are stored and shown as they came")
        yield NoRedaction()
        return
    kwargs: dict[str, Any] = {"entities": policy.entities, "spacy_model": policy.spacy_model}
    redactor = _PresidioRedaction(kwargs, resolve_workers(policy.workers), policy.min_parallel_rows)
    try:
        yield redactor
    finally:
        redactor.close()
