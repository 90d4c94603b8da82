"""Embedding items of the store: the configured runner (Ray or in-process) behind the content-hash cache.

Use :func:`open_runner` as a context manager (it starts local Ray or connects to a cluster, and shuts down only
what it started), then :func:`embed_store_items` for any list of item rows with ``content_hash`` and ``text``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.engine.config import ComputeConfig
from labelloop.models.compute import (
    EmbedStats,
    InProcessRunner,
    RayRunner,
    RaySession,
    Runner,
    connect_ray,
    embed_items,
    shutdown_ray,
)
from labelloop.models.embedding_cache import EmbeddingCache
from labelloop.models.encoders.base import EncodeResult
from labelloop.models.encoders.spec import EncoderSpec, encoder_fingerprint

log = logging.getLogger(__name__)


class _LazyRayRunner:
    """Connects to Ray on the first embedding that misses the cache, so a fully cached call never starts Ray."""

    def __init__(self, compute: ComputeConfig) -> None:
        self._compute = compute
        self._session: RaySession | None = None
        self._runner: RayRunner | None = None

    def embed(self, inputs: NDArray[np.object_], spec: EncoderSpec) -> EncodeResult:
        if self._runner is None:
            self._session = connect_ray(self._compute.ray_address, num_cpus=self._compute.num_cpus)
            log.info(
                "ray ready address=%s init_seconds=%.2f",
                self._compute.ray_address or "local",
                self._session.init_seconds,
            )
            self._runner = RayRunner(actors=self._compute.actors)
        return self._runner.embed(inputs, spec)

    def close(self) -> None:
        if self._session is not None:
            shutdown_ray(self._session)
            self._session = None


@contextmanager
def open_runner(compute: ComputeConfig) -> Iterator[Runner]:
    """The configured runner; Ray is started (or joined) only if something actually needs embedding."""
    if compute.backend == "inprocess":
        yield InProcessRunner()
        return
    runner = _LazyRayRunner(compute)
    try:
        yield runner
    finally:
        runner.close()


def cache_for(workdir: Path, spec: EncoderSpec) -> EmbeddingCache:
    return EmbeddingCache(workdir / "embeddings", encoder_fingerprint(spec))


def embed_store_items(
    items: Sequence[dict[str, Any]], *, spec: EncoderSpec, cache: EmbeddingCache, runner: Runner
) -> tuple[NDArray[np.float32], EmbedStats]:
    """Vectors ``(n, d)`` for ``items`` (rows with ``content_hash`` and ``text``, or ``uri`` for images)."""
    inputs = [it["text"] if it.get("text") is not None else it["uri"] for it in items]
    return embed_items([it["content_hash"] for it in items], inputs, encoder_spec=spec, cache=cache, runner=runner)
