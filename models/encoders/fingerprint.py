"""Deterministic, type-tagged fingerprints for encoders (the embedding cache key and the lineage of a model version).

Use :class:`Hasher` to fold configuration values and files into one SHA-256 digest, and :func:`hash_files` for the
files of a checkpoint. Every value is written with a type tag and a length, so ``1`` and ``"1"``, or ``["ab"]`` and
``["a", "b"]``, never collide. A value the hasher does not know is an error (``TypeError``): there is no fallback to a
random or ``id()``-based fingerprint, which would silently turn every run into a cache miss (or worse, a hit).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

_CHUNK = 1 << 20


class Hasher:
    """Incremental SHA-256 over type-tagged values (the idea of huggingface/datasets ``fingerprint.Hasher``).

    Supported: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``/``tuple``, ``dict`` (keys sorted by
    their own encoding), ``numpy.ndarray`` (dtype, shape and bytes) and numpy scalars.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def _tag(self, tag: bytes, payload: bytes) -> None:
        self._h.update(tag)
        self._h.update(struct.pack("<Q", len(payload)))
        self._h.update(payload)

    def update(self, value: object) -> Hasher:
        """Add one value; returns ``self`` so calls chain."""
        if value is None:
            self._tag(b"none", b"")
        elif isinstance(value, bool | np.bool_):
            self._tag(b"bool", b"1" if value else b"0")
        elif isinstance(value, int | np.integer):
            self._tag(b"int", str(int(value)).encode())
        elif isinstance(value, float | np.floating):
            self._tag(b"float", float(value).hex().encode())
        elif isinstance(value, str):
            self._tag(b"str", value.encode("utf-8"))
        elif isinstance(value, bytes):
            self._tag(b"bytes", value)
        elif isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            if arr.dtype == object:
                raise TypeError("cannot fingerprint a numpy array of dtype object")
            self._tag(b"ndarray", f"{arr.dtype.str}|{arr.shape}".encode())
            self._tag(b"data", arr.tobytes())
        elif isinstance(value, list | tuple):
            self._tag(b"list" if isinstance(value, list) else b"tuple", str(len(value)).encode())
            for item in value:
                self.update(item)
        elif isinstance(value, Mapping):
            items = sorted((Hasher().update(k).hexdigest(), k, v) for k, v in value.items())
            self._tag(b"dict", str(len(items)).encode())
            for _, k, v in items:
                self.update(k)
                self.update(v)
        else:
            raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}: {value!r:.80}")
        return self

    def update_file(self, path: Path, *, name: str | None = None) -> Hasher:
        """Add a file's name (``name`` or its base name) and full content, streamed in 1 MiB chunks."""
        self._tag(b"file", (name if name is not None else path.name).encode("utf-8"))
        size = path.stat().st_size
        self._h.update(struct.pack("<Q", size))
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                self._h.update(chunk)
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hash_files(root: Path, names: Iterable[str]) -> str:
    """SHA-256 over the named files below ``root`` (sorted by name, names relative to ``root``, contents streamed).

    The names are part of the digest, so renaming a file changes it; a missing file is a ``FileNotFoundError``.
    """
    hasher = Hasher().update("files/v1")
    for name in sorted(names):
        hasher.update_file(root / name, name=name)
    return hasher.hexdigest()


def fingerprint(kind: str, **fields: object) -> str:
    """The fingerprint of an encoder of ``kind`` from its defining fields: ``"<kind>-<first 24 hex of sha256>"``.

    The kind prefix keeps fingerprints readable in folder names and lineage records; 96 bits are plenty to avoid
    collisions between the handful of encoders a project ever uses.
    """
    digest = Hasher().update("encoder-fingerprint/v1").update(kind).update(dict(fields)).hexdigest()
    return f"{kind}-{digest[:24]}"
