"""Ingest one source file into the store: read in chunks, validate, deduplicate, redact, write.

Every input row ends as exactly one of: a new item, a duplicate of an item already known (same keyed hash of the
normalised original text), or a quarantine row with file, line, reason and a redacted excerpt. The summary's counts
add up to the rows read. Labels found in the source become label events with ``source=import``.

Per chunk, the order is chosen so the slow step (PII redaction) runs only on new, valid texts:
validate → hash the normalised original → drop known items → redact (in parallel for large chunks) → write.

With redaction off on a SQLite store, chunks take the bulk path: clean CSV blocks arrive as Arrow columns and are
validated with compute kernels (:func:`validate_columns`), hashed in a tight loop, and written with
:meth:`BulkImport.add <labelloop.engine.store.repository.BulkImport.add>`, which deduplicates inside SQLite, in
transactions of about ``BULK_COMMIT_ROWS`` rows. Rows, counts, lines and events are the same.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labelloop import __version__
from labelloop.connectors.sources import SourceError, excerpt, open_source
from labelloop.connectors.sources.base import RowProblem
from labelloop.engine.config import ProjectConfig, SourceConfig
from labelloop.engine.ingest.chunks import PreparedChunk, local_chunks, process_chunks
from labelloop.engine.ingest.identity import content_hash, file_sha256
from labelloop.engine.ingest.redaction import NoRedaction, TextRedactor
from labelloop.engine.ingest.validate import (
    Candidate,
    Rejected,
    RowRules,
)
from labelloop.engine.store import Store
from labelloop.engine.store.repository import BulkImport, ImportBatch

log = logging.getLogger(__name__)

# The bulk writer commits once per this many rows (several chunks), not once per chunk: each commit of SQLite
# rewrites the identity index pages the chunks touched into the WAL and checkpoints them (bench/ingest.md).
BULK_COMMIT_ROWS = 200_000
# Bulk ingests of files at least this big read in a separate process (chunks.process_chunks); smaller ones are over
# before a process would pay for its start.
READER_PROCESS_MIN_BYTES = 32 << 20

ProgressFn = Callable[[int, int, int], None]  # (bytes_read, total_bytes, rows_read)


@dataclass
class IngestSummary:
    """What one ingest did. ``rows_read == items_added + duplicates + quarantined`` always holds."""

    source: str
    run_id: int
    rows_read: int = 0
    items_added: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_new: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    labels_imported: int = 0
    redacted_entities: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # CPU seconds per stage (read/parse, validate+hash on the reading thread; write on the writer thread) and
    # which writer ran ("bulk" or "rows"): where an ingest's time goes.
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)
    # The bulk writer's "write" seconds by SQLite step (items insert, new ids and lookups, events insert, commit).
    write_cpu_seconds: dict[str, float] = field(default_factory=dict)
    writer: str = ""
    reader: str = ""  # "process": chunks read, validated and hashed in a reader process; "thread": in this one
    journal: str = ""  # the bulk writer's SQLite journal while it wrote: "rollback", or "wal" (store shared)
    status: str = "running"

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def only_bad_rows(self) -> bool:
        """True when nothing valid came in: the CLI exits non-zero then."""
        return self.items_added + self.duplicates == 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows_per_s"] = round(self.rows_per_s, 1)
        return d


def ingest_source(
    store: Store,
    cfg: ProjectConfig,
    source: SourceConfig,
    *,
    hash_key: bytes,
    redactor: TextRedactor,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Ingest ``source`` into ``store``. Raises :class:`SourceError` if the file as a whole is unusable."""
    path = Path(source.path)
    if not path.is_file():
        raise SourceError(f"source file not found: {path}")
    fmt = source.resolved_format()
    open_source(path, fmt)  # an unknown format fails here, before an ingest run is recorded
    total_bytes = path.stat().st_size
    run_id = store.start_ingest_run(str(path), fmt, file_sha256(path))
    summary = IngestSummary(source=str(path), run_id=run_id)
    rules = RowRules(
        text_field=source.text_field,
        id_field=source.id_field,
        label_field=source.label_field,
        split_field=source.split_field,
        metadata_fields=tuple(source.metadata_fields),
        max_text_chars=cfg.ingest.max_text_chars,
        labels=frozenset(cfg.task.labels),
        label_splits=frozenset(source.label_splits) if source.label_splits is not None else None,
    )
    bulk = store.supports_import_batch and isinstance(redactor, NoRedaction)
    writer_cls = _BulkWriter if bulk else _ChunkWriter
    writer = writer_cls(
        store, cfg, run_id=run_id, source_name=path.name, source_path=str(path), redactor=redactor, summary=summary
    )
    summary.writer = "bulk" if bulk else "rows"
    started = time.perf_counter()
    in_process = bulk and total_bytes >= READER_PROCESS_MIN_BYTES
    source_chunks = process_chunks if in_process else local_chunks
    summary.reader = "process" if in_process else "thread"
    chunks = source_chunks(path, fmt, cfg.ingest.chunk_rows, rules, hash_key, with_content_hash=bulk)
    reading_cpu: Counter[str] = Counter()  # CPU seconds of the reading side per stage

    def counted() -> Iterator[PreparedChunk]:
        for chunk in chunks:
            summary.rows_read += chunk.n_rows
            reading_cpu.update(read=chunk.read_s, validate_hash=chunk.prepare_s)
            if progress is not None:
                progress(chunk.bytes_read, total_bytes, summary.rows_read)
            yield chunk

    try:
        if in_process:
            # A reader process reads, validates and hashes chunk N+1 while this thread writes chunk N (chunks.py).
            for chunk in counted():
                writer.write(chunk)
        else:
            # This thread reads, validates and hashes chunk N+1 while a writer thread deduplicates, redacts and
            # writes chunk N (redaction and SQLite release the GIL while they work). At most two chunks in memory.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as pool:
                pending: Future[None] | None = None
                for chunk in counted():
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(writer.write, chunk)
                if pending is not None:
                    pending.result()
        writer.close(ok=True)
    except BaseException:
        try:
            writer.close(ok=False)
        except Exception:  # the original error matters more; this one is logged
            log.exception("ingest source=%s: closing the writer after a failure failed too", path.name)
        summary.status = "failed"
        summary.seconds = time.perf_counter() - started
        store.finish_ingest_run(run_id, status="failed", **_run_counts(summary))
        raise
    finally:
        chunks.close()  # stops a reader process that is still running (after a failure)
    summary.status = "done"
    summary.seconds = time.perf_counter() - started
    summary.journal = writer.importer.journal if isinstance(writer, _BulkWriter) else ""
    summary.stage_cpu_seconds = {
        "read": round(reading_cpu["read"], 3),
        "validate_hash": round(reading_cpu["validate_hash"], 3),
        "write": round(writer.cpu_seconds, 3),
    }
    summary.write_cpu_seconds = {k: round(v, 3) for k, v in writer.step_cpu_seconds().items()}
    summary.quarantine_by_reason = dict(sorted(writer.reasons.items()))
    summary.redacted_entities = dict(sorted(writer.entities.items()))
    store.finish_ingest_run(run_id, status="done", **_run_counts(summary))
    log.info(
        "ingested source=%s rows=%d items_added=%d duplicates=%d quarantined=%d labels=%d seconds=%.2f",
        path.name,
        summary.rows_read,
        summary.items_added,
        summary.duplicates,
        summary.quarantined,
        summary.labels_imported,
        summary.seconds,
    )
    return summary


def _run_counts(s: IngestSummary) -> dict[str, Any]:
    return {
        "rows_read": s.rows_read,
        "items_added": s.items_added,
        "duplicates": s.duplicates,
        "quarantined": s.quarantined,
        "labels_imported": s.labels_imported,
        "redacted_entities": dict(s.redacted_entities),
    }


class _ChunkWriter:
    """Deduplicates, redacts and writes prepared chunks, one at a time, in order."""

    def __init__(
        self,
        store: Store,
        cfg: ProjectConfig,
        *,
        run_id: int,
        source_name: str,
        source_path: str,
        redactor: TextRedactor,
        summary: IngestSummary,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.run_id = run_id
        self.source_name = source_name
        self.source_path = source_path
        self.redactor = redactor
        self.summary = summary
        self.reasons: Counter[str] = Counter()
        self.entities: Counter[str] = Counter()
        self.cpu_seconds = 0.0

    def close(self, *, ok: bool) -> None:
        """Called once after the last chunk (``ok``) or after a failure; every chunk here is already committed."""

    def step_cpu_seconds(self) -> dict[str, float]:
        return {}

    def write(self, prepared: PreparedChunk) -> None:
        t0 = time.thread_time()
        good = list(zip(prepared.hashes, prepared.keys, prepared.rows.candidates(), strict=True))
        self._write(good, prepared.rows.rejected)
        self.cpu_seconds += time.thread_time() - t0

    def _write(self, good: list[tuple[str, int, Candidate]], bad: list[Rejected]) -> None:
        store, cfg, summary = self.store, self.cfg, self.summary
        source_name, source_path, run_id = self.source_name, self.source_path, self.run_id
        # Deduplicate: against the store, then within the chunk (first occurrence wins). A row whose integer key
        # is held under another hash (stored item or earlier row) is a key collision: quarantined, not merged.
        matches = store.existing_identities([h for h, _, _ in good])
        known = matches.known
        new: dict[str, Candidate] = {}
        hash_of_key: dict[int, str] = {}  # key -> hash of the new row holding it
        collided: list[tuple[Candidate, int | str]] = []  # with the holder: a stored item's id, or a new row's hash
        for h, key, cand in good:
            if h in known or h in new:
                continue
            if h in matches.collisions:
                collided.append((cand, matches.collisions[h]))
            elif key in hash_of_key:
                collided.append((cand, hash_of_key[key]))
            else:
                new[h] = cand
                hash_of_key[key] = h
        summary.duplicates += len(good) - len(new) - len(collided)

        # Redact only what will be stored; quarantine excerpts are redacted too (they are shown to people), and so
        # are string metadata values (a source's "author" or "email" column is as personal as its text).
        new_hashes = list(new)
        texts = [new[h].text for h in new_hashes]
        metas = [dict(new[h].meta) if new[h].meta else new[h].meta for h in new_hashes]
        slots = [(k, key) for k, m in enumerate(metas) if m for key, v in m.items() if isinstance(v, str) and v]
        excerpts = [excerpt(r.raw) for r in bad] + [excerpt(cand.text) for cand, _ in collided]
        redacted = self.redactor.redact_many(texts + [metas[k][key] for k, key in slots] + excerpts)
        for (k, key), (red_value, counts) in zip(slots, redacted[len(texts) : len(texts) + len(slots)], strict=True):
            metas[k][key] = red_value
            self.entities.update(counts)
        redacted = redacted[: len(texts)] + redacted[len(texts) + len(slots) :]
        item_rows = []
        key_of = {h: key for key, h in hash_of_key.items()}  # computed once, in chunks.prepare
        for h, meta, (red_text, counts) in zip(new_hashes, metas, redacted[: len(texts)], strict=True):
            cand = new[h]
            self.entities.update(counts)
            item_rows.append(
                {
                    "identity_hash": h,
                    "identity_key": key_of[h],
                    "content_hash": content_hash(red_text),
                    "kind": "text",
                    "text": red_text,
                    "original_text": cand.text if cfg.ingest.store_original_text else None,
                    "external_id": cand.external_id,
                    "split": cand.split,
                    "source": source_path,
                    "source_line": cand.line,
                    "ingest_run_id": run_id,
                    "meta": meta,
                    "redactions": counts,
                }
            )
        ids = store.add_items(item_rows)
        summary.items_added += len(item_rows)
        bad = bad + [
            _collision(cand.line, cand.text, f"item {holder if isinstance(holder, int) else ids[holder]}")
            for cand, holder in collided
        ]
        ids.update(known)

        # Source labels → import label events, once per (item, file line) however often the file is ingested.
        # Only rows of items that existed before this chunk can have been imported already: look those up alone.
        labelled = [(ids[h], h in known, cand) for h, _, cand in good if cand.label is not None and h in ids]
        if labelled:
            ext = [f"import:{source_name}#L{cand.line}" for _, _, cand in labelled]
            seen = store.import_events(item_id for item_id, old, _ in labelled if old)
            events = [
                {
                    "item_id": item_id,
                    "label": cand.label,
                    "source": "import",
                    "annotator": f"import:{source_name}",
                    "tool": "labelloop-ingest",
                    "tool_version": __version__,
                    "external_id": e,
                }
                for (item_id, _, cand), e in zip(labelled, ext, strict=True)
                if (item_id, e) not in seen
            ]
            summary.labels_imported += store.append_label_events(events)

        self._quarantine(bad, [red for red, _ in redacted[len(texts) :]])

    def _quarantine(self, bad: list[Rejected], excerpts: list[str]) -> None:
        """Record rejected rows with file, line, reason and their (redacted) excerpt."""
        if not bad:
            return
        q_rows = [
            {
                "ingest_run_id": self.run_id,
                "source": self.source_path,
                "line": r.line,
                "reason": r.problem.reason,
                "detail": r.problem.detail,
                "raw_excerpt": red_excerpt,
                "raw_sha256": content_hash(r.raw),
            }
            for r, red_excerpt in zip(bad, excerpts, strict=True)
        ]
        self.summary.quarantine_new += self._add_quarantine(q_rows)
        self.summary.quarantined += len(bad)
        self.reasons.update(r.problem.reason for r in bad)
        for r in bad:
            log.debug(
                "quarantined source=%s line=%d reason=%s detail=%s",
                self.source_name,
                r.line,
                r.problem.reason,
                r.problem.detail,
            )

    def _add_quarantine(self, rows: list[dict[str, Any]]) -> int:
        return self.store.add_quarantine(rows)


def _collision(line: int, text: str, holder: str) -> Rejected:
    """A valid row whose identity key (the hash's first 64 bits) is held by another text: kept in quarantine."""
    detail = f"its identity hash shares the store's 64-bit key with {holder}, a different text; not merged"
    return Rejected(line, text, RowProblem("identity_collision", detail))


_COUNTED = ("items_added", "duplicates", "labels_imported", "quarantined", "quarantine_new")


class _BulkWriter(_ChunkWriter):
    """Redaction off, SQLite store: the chunk's columns go to :meth:`BulkImport.add` as they are, in transactions
    of about :data:`BULK_COMMIT_ROWS` rows.

    A failure outside the writer (a broken file, an interrupt) leaves the chunks written so far whole, so they are
    committed, as the per-chunk writer would have; a failure inside a chunk rolls back to the last commit and the
    summary's counts go back with it (a re-ingest adds what is missing).
    """

    def __init__(self, store: Store, cfg: ProjectConfig, **kwargs: Any) -> None:
        super().__init__(store, cfg, **kwargs)
        self.importer: BulkImport = store.bulk_import()
        self.uncommitted_rows = 0
        self.broken = False
        self._committed = self._snapshot()

    def _snapshot(self) -> tuple[dict[str, int], Counter[str]]:
        return {k: getattr(self.summary, k) for k in _COUNTED}, Counter(self.reasons)

    def _commit(self) -> None:
        self.importer.commit()
        self.uncommitted_rows = 0
        self._committed = self._snapshot()

    def close(self, *, ok: bool) -> None:
        if ok or not self.broken:
            try:
                self.importer.close(commit=True)
            except BaseException:
                self.broken = True  # the caller closes again with ok=False: counts go back to the last commit
                raise
            return
        self.importer.close(commit=False)
        counts, reasons = self._committed
        for k, v in counts.items():
            setattr(self.summary, k, v)
        self.reasons = reasons
        log.warning(
            "ingest failed inside a chunk: rolled back that chunk and the %d rows written since the last commit",
            self.uncommitted_rows,
        )

    def _add_quarantine(self, rows: list[dict[str, Any]]) -> int:
        return self.importer.add_quarantine(rows)

    def step_cpu_seconds(self) -> dict[str, float]:
        return dict(self.importer.cpu_seconds)

    def write(self, prepared: PreparedChunk) -> None:
        try:
            self._write_bulk(prepared)
        except BaseException:
            self.broken = True
            raise

    def _write_bulk(self, prepared: PreparedChunk) -> None:
        t0 = time.thread_time()
        rows = prepared.rows
        assert prepared.content_hashes is not None
        counts = self.importer.add(
            ImportBatch(
                run_id=self.run_id,
                source=self.source_path,
                lines=rows.lines,
                identity_hashes=prepared.hashes,
                content_hashes=prepared.content_hashes,
                texts=rows.texts,
                external_ids=rows.external_ids,
                splits=rows.splits,
                labels=rows.labels,
                metadata=rows.meta,
                original_texts=rows.texts if self.cfg.ingest.store_original_text else None,
                identity_keys=prepared.keys,
                event_prefix=f"import:{self.source_name}#L",
                annotator=f"import:{self.source_name}",
                tool="labelloop-ingest",
                tool_version=__version__,
            )
        )
        collided = [_collision(rows.lines[i], rows.texts[i], f"item {item_id}") for i, item_id in counts.collisions]
        self.summary.items_added += counts.items_added
        self.summary.duplicates += len(rows) - counts.items_added - len(collided)
        self.summary.labels_imported += counts.label_events_added
        bad = rows.rejected + collided
        self._quarantine(bad, [excerpt(r.raw) for r in bad])
        self.uncommitted_rows += len(rows) + len(rows.rejected)
        if self.uncommitted_rows >= BULK_COMMIT_ROWS:
            self._commit()
        self.cpu_seconds += time.thread_time() - t0
