"""Redaction spread over processes, for large ingests.

Presidio + spaCy cost ~6-10 ms per text and hold the GIL, so threads do not help; a process pool does. Each
worker builds one :class:`~labelloop.engine.privacy.redactor.Redactor` once, in the pool initializer, and then
serves chunks of texts; results come back in input order.

Start method: ``forkserver`` by default on Linux, ``spawn`` elsewhere. The ingest process may already have
imported torch or started Ray (threads, CUDA/OpenMP state); ``fork`` copies that state into children mid-flight and
can deadlock, so it is not the default. ``forkserver`` forks workers from a clean single-threaded server process,
which is as safe as ``spawn`` and starts workers a little faster (see ``bench/redaction.md`` for the measured pool
start-up times); pass ``start_method="spawn"`` to override.

Use ``workers=1`` (no pool, in-process) for small inputs and tests; the pool pays ~2-4 s of start-up (imports +
model load per worker), which a 10,000-text chunk amortises.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType
from typing import Any

from labelloop.engine.privacy.redactor import Redaction, Redactor

__all__ = ["ParallelRedactor", "default_start_method"]

logger = logging.getLogger(__name__)

# Per-worker-process state: set only by _init_worker inside a pool worker, never in the parent process and never
# at import time. A ProcessPoolExecutor initializer has no other way to hand an object to later tasks.
_WORKER_REDACTOR: Redactor | None = None


def default_start_method() -> str:
    """``forkserver`` where the platform has it (Linux), else ``spawn``; never ``fork`` (see module docstring)."""
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def _init_worker(redactor_kwargs: dict[str, Any]) -> None:
    global _WORKER_REDACTOR
    _WORKER_REDACTOR = Redactor(**redactor_kwargs)
    logger.debug("redaction_worker_ready pid=%s", os.getpid())


def _redact_chunk(texts: list[str]) -> list[Redaction]:
    if _WORKER_REDACTOR is None:
        raise RuntimeError("redaction worker used before its initializer ran")
    return _WORKER_REDACTOR.redact_many(texts)


class ParallelRedactor:
    """A context manager owning a process pool of redactors.

    :param workers: number of worker processes; 1 redacts in this process (no pool).
    :param start_method: multiprocessing start method (default :func:`default_start_method`).
    :param chunk_size: texts per task; large enough to amortise pickling, small enough to balance the load.
    :param redactor_kwargs: passed to :class:`Redactor` in every worker (``entities``, ``spacy_model``,
        ``score_threshold``); validated here first so a bad entity name fails before any process starts.
    """

    def __init__(
        self,
        *,
        workers: int,
        start_method: str | None = None,
        chunk_size: int = 250,
        **redactor_kwargs: Any,
    ) -> None:
        if workers < 1:
            raise ValueError(f"The 'workers' parameter of ParallelRedactor must be >= 1. Got {workers} instead.")
        if chunk_size < 1:
            raise ValueError(f"The 'chunk_size' parameter of ParallelRedactor must be >= 1. Got {chunk_size}.")
        entities = redactor_kwargs.get("entities")
        if entities is not None:
            unknown = sorted(set(entities) - set(Redactor.SUPPORTED_ENTITIES))
            if unknown:
                raise ValueError(
                    f"unknown entity name(s) {unknown}; supported: {', '.join(Redactor.SUPPORTED_ENTITIES)}"
                )
        self.workers = workers
        self.chunk_size = chunk_size
        self.start_method = start_method or default_start_method()
        self._kwargs = dict(redactor_kwargs)
        self._local: Redactor | None = None
        self._pool: ProcessPoolExecutor | None = None
        if workers == 1:
            self._local = Redactor(**self._kwargs)
        else:
            context = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                # The server imports presidio/spaCy once; each worker then forks from it and only loads the model.
                # Effective only if this process has not started its forkserver yet; harmless otherwise.
                context.set_forkserver_preload(["labelloop.engine.privacy.redactor"])
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(self._kwargs,)
            )
        logger.info("parallel_redactor_ready workers=%s start_method=%s", workers, self.start_method)

    def redact_many(self, texts: Sequence[str]) -> list[Redaction]:
        """Redact ``texts``; the i-th result belongs to the i-th text."""
        if self._local is not None:
            return self._local.redact_many(texts)
        if self._pool is None:
            raise RuntimeError("ParallelRedactor is closed")
        items = list(texts)
        chunks = [items[i : i + self.chunk_size] for i in range(0, len(items), self.chunk_size)]
        out: list[Redaction] = []
        for part in self._pool.map(_redact_chunk, chunks):
            out.extend(part)
        return out

    def worker_pids(self) -> list[int]:
        """Process ids of the pool's live workers (empty for ``workers=1``); for monitoring and benchmarks."""
        if self._pool is None:
            return []
        processes = getattr(self._pool, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    def close(self) -> None:
        """Shut the pool down (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ParallelRedactor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
