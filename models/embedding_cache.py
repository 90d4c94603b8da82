"""Embedding cache: vectors keyed by (encoder fingerprint, content hash of the embedded text), stored as Parquet.

Layout: ``<root>/<fingerprint>/part-<time>-<uuid>.parquet``, columns ``hash`` (string) and ``vector``
(fixed-size list of float32). Each :meth:`EmbeddingCache.add` writes one new part to a temporary name in the same
folder and renames it into place (atomic on POSIX), so a crash leaves either the whole part or nothing, and several
processes can append at once. A different encoder (other weights, ``max_length``, quantisation...) has another
fingerprint and therefore another folder: nothing is invalidated or overwritten, old vectors simply stop matching.

Use :meth:`EmbeddingCache.lookup` then :meth:`EmbeddingCache.add` (or let
:func:`labelloop.models.compute.embed_items` do both). Counters (``hits``, ``misses``, ``added``) count rows over the
object's lifetime; tests assert on them, not on timings. :meth:`EmbeddingCache.compact` merges parts.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class CacheCounters:
    """Rows looked up and found (``hits``) or not (``misses``), and rows written (``added``)."""

    hits: int = 0
    misses: int = 0
    added: int = 0


class EmbeddingCache:
    """Vectors of one encoder (``fingerprint``) under ``root``; loads existing parts lazily on first use.

    ``dim`` is fixed by the first part read or written; adding vectors of another width is an error.
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        if not _SAFE_NAME.match(fingerprint):
            raise ValueError(f"fingerprint must match {_SAFE_NAME.pattern} to be a folder name; got {fingerprint!r}")
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.folder = self.root / fingerprint
        self.counters = CacheCounters()
        self.dim: int | None = None
        self._index: dict[str, int] | None = None
        self._blocks: list[NDArray[np.float32]] = []
        self._matrix: NDArray[np.float32] | None = None

    # -- reading -------------------------------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("part-*.parquet") if p.is_file())

    def _load(self) -> dict[str, int]:
        if self._index is not None:
            return self._index
        index: dict[str, int] = {}
        for part in self._parts():
            table = pq.read_table(part)
            self._append_table(table, index, source=part)
        self._index = index
        return index

    def _append_table(self, table: pa.Table, index: dict[str, int], *, source: Path) -> None:
        vec_col = table.column("vector").combine_chunks()
        width = vec_col.type.list_size
        if self.dim is None:
            self.dim = width
        elif width != self.dim:
            raise ValueError(f"cache part {source} has vectors of width {width}, expected {self.dim}")
        hashes = table.column("hash").to_pylist()
        vectors = vec_col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        vectors = vectors.reshape(len(hashes), width)
        offset = sum(len(b) for b in self._blocks)
        keep = []
        for i, h in enumerate(hashes):
            if h not in index:  # first writer wins; duplicates across parts hold the same vector
                index[h] = offset + len(keep)
                keep.append(i)
        if keep:
            self._blocks.append(vectors[keep])
            self._matrix = None

    def _vectors(self) -> NDArray[np.float32]:
        if self._matrix is None:
            width = self.dim or 0
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.empty((0, width), np.float32)
            self._blocks = [self._matrix]
        return self._matrix

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, content_hash: object) -> bool:
        return content_hash in self._load()

    def lookup(self, hashes: Sequence[str]) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
        """Find vectors for ``hashes`` (n,): ``found`` ``(n,)`` bool and ``vectors`` ``(n, dim)`` float32 (zero rows
        where not found; ``(n, 0)`` when the cache is empty and has no width yet). Counts hits and misses."""
        index = self._load()
        rows = np.fromiter((index.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))
        found = rows >= 0
        width = self.dim or 0
        out = np.zeros((len(hashes), width), dtype=np.float32)
        if found.any():
            out[found] = self._vectors()[rows[found]]
        hits = int(found.sum())
        self.counters.hits += hits
        self.counters.misses += len(hashes) - hits
        return found, out

    # -- writing -------------------------------------------------------------------------------------------------
    def add(self, hashes: Sequence[str], vectors: NDArray[np.floating]) -> int:
        """Store ``vectors`` ``(n, dim)`` under ``hashes`` (n,), skipping hashes already cached. Returns rows written.

        Writes one Parquet part atomically (temporary file + ``os.replace``).
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(hashes):
            raise ValueError(f"vectors must have shape ({len(hashes)}, dim); got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to cache non-finite vectors")
        index = self._load()
        if self.dim is not None and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have width {vectors.shape[1]}, this cache holds width {self.dim}")
        seen: set[str] = set()
        keep = []
        for i, h in enumerate(hashes):
            if h not in index and h not in seen:
                seen.add(h)
                keep.append(i)
        if not keep:
            return 0
        new_hashes = [hashes[i] for i in keep]
        new_vectors = np.ascontiguousarray(vectors[keep])
        width = new_vectors.shape[1]
        table = pa.table(
            {
                "hash": pa.array(new_hashes, type=pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(new_vectors.reshape(-1)), width),
            }
        )
        part = self._write_part(table)
        self._append_table(table, index, source=part)
        self.counters.added += len(keep)
        logger.debug(
            "embedding cache part written fingerprint=%s rows=%d part=%s", self.fingerprint, len(keep), part.name
        )
        return len(keep)

    def _write_part(self, table: pa.Table) -> Path:
        """Write ``table`` as a new part: a temporary name in the same folder, renamed into place (atomic)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = self.folder / f".tmp-{name}"
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.folder / name)
        finally:
            tmp.unlink(missing_ok=True)
        return self.folder / name

    def compact(self) -> int:
        """Merge the current parts into one (written atomically before those parts are removed; parts other processes
        add meanwhile are left alone). Returns the number of distinct hashes in the merged part."""
        parts = self._parts()
        if len(parts) <= 1:
            return len(self._load())
        merged = pa.concat_tables([pq.read_table(p) for p in parts])
        hashes = merged.column("hash").to_pylist()
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        table = merged.take(pa.array(sorted(first.values()), type=pa.int64()))
        self._write_part(table)
        for p in parts:
            p.unlink()
        self._index, self._blocks, self._matrix = None, [], None
        return table.num_rows
