"""A source file as a stream of prepared chunks: read, validated and hashed, ready for the writer.

Two ways to produce the stream, with the same chunks in the same order:

- :func:`local_chunks`: in the calling thread.
- :func:`process_chunks`: in a reader process (forked), handed over through a bounded queue. For the bulk writer:
  its ``executemany`` needs the GIL back for every row's parameters, so a reading thread running Python in the same
  process all but stops it, and an ingest took about the sum of both instead of the longer (bench/ingest.md). In
  another process the two run side by side; at most ``QUEUE_CHUNKS`` chunks wait in between (memory stays bounded).
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelloop.connectors.sources import Block, ColumnChunk, open_source
from labelloop.engine.ingest.identity import content_hashes, identity_hashes
from labelloop.engine.ingest.validate import RowRules, ValidatedRows, validate_columns, validate_rows
from labelloop.engine.store.keys import identity_keys

log = logging.getLogger(__name__)

QUEUE_CHUNKS = 2
_POLL_S = 1.0  # how often a waiting parent checks that the reader process is still alive


@dataclass
class PreparedChunk:
    """A validated chunk with the identity hash and store key of each valid row (and, for the bulk path, its
    content hash), plus what the ingest reports: rows in the block, bytes read so far, CPU seconds per stage."""

    rows: ValidatedRows
    hashes: list[str]
    keys: list[int]
    content_hashes: list[str] | None
    n_rows: int = 0
    bytes_read: int = 0
    read_s: float = 0.0
    prepare_s: float = 0.0


def prepare(block: Block, rules: RowRules, hash_key: bytes, *, with_content_hash: bool) -> PreparedChunk:
    """Validate a chunk and hash the normalised original text of each valid row (no store access)."""
    rows = validate_columns(block, rules) if isinstance(block, ColumnChunk) else validate_rows(block, rules)
    hashes = identity_hashes(hash_key, rows.normalised)
    # Without redaction the stored text is the validated text, so its content hash is known already.
    return PreparedChunk(
        rows, hashes, identity_keys(hashes), content_hashes(rows.texts) if with_content_hash else None, len(block)
    )


def local_chunks(
    path: Path, fmt: str, chunk_rows: int, rules: RowRules, hash_key: bytes, *, with_content_hash: bool
) -> Iterator[PreparedChunk]:
    """The prepared chunks of ``path``, produced in this thread."""
    reader = open_source(path, fmt)
    blocks = reader.blocks(chunk_rows)
    while True:
        t0 = time.thread_time()
        block = next(blocks, None)
        t1 = time.thread_time()
        if block is None:
            return
        chunk = prepare(block, rules, hash_key, with_content_hash=with_content_hash)
        chunk.bytes_read, chunk.read_s, chunk.prepare_s = reader.bytes_read, t1 - t0, time.thread_time() - t1
        yield chunk


def _produce(args: tuple[Any, ...], out: Any) -> None:
    """The reader process: every prepared chunk, then ``("done", None)``; or ``("error", exception)``."""
    try:
        *source, with_content_hash = args
        for chunk in local_chunks(*source, with_content_hash=with_content_hash):
            chunk.rows.normalised = []  # only the hashes' input: not worth pickling
            out.put(("chunk", chunk))
        out.put(("done", None))
    except BaseException as err:
        try:
            pickle.dumps(err)
        except Exception:  # an exception that cannot cross the process boundary: its type and message can
            err = RuntimeError(f"{type(err).__name__}: {err}")
        out.put(("error", err))


def process_chunks(
    path: Path, fmt: str, chunk_rows: int, rules: RowRules, hash_key: bytes, *, with_content_hash: bool
) -> Iterator[PreparedChunk]:
    """The same chunks as :func:`local_chunks`, produced in a reader process while the caller writes.

    An error in the reader (a source problem, anything) is raised here with its type and message; a reader that
    dies without a word raises :class:`RuntimeError` naming its exit code. Closing the iterator stops the reader.
    """
    ctx = multiprocessing.get_context("fork")  # no re-import of the stack (spawn) before the first chunk
    out = ctx.Queue(maxsize=QUEUE_CHUNKS)
    args = (path, fmt, chunk_rows, rules, hash_key, with_content_hash)
    proc = ctx.Process(target=_produce, args=(args, out), name="labelloop-ingest-reader", daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, payload = out.get(timeout=_POLL_S)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError(
                        f"the ingest reader process for {path} stopped (exit code {proc.exitcode}) before the end of "
                        "the file"
                    ) from None
                continue
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=10)
        out.close()
        log.debug("ingest reader process for %s ended (exit code %s)", path.name, proc.exitcode)
