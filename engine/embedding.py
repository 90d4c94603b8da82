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
    Runner,
    connect_ray,
    embed_items,
    shutdown_ray,
)
from labelloop.models.embedding_cache import EmbeddingCache
from labelloop.models.encoders.spec import EncoderSpec, encoder_fingerprint

log = logging.getLogger(__name__)


@contextmanager
def open_runner(compute: ComputeConfig) -> Iterator[Runner]:
    if compute.backend == "inprocess":
        yield InProcessRunner()
        return
    session = connect_ray(compute.ray_address, num_cpus=compute.num_cpus)
    log.info("ray ready address=%s init_seconds=%.2f", compute.ray_address or "local", session.init_seconds)
    try:
        yield RayRunner(actors=compute.actors)
    finally:
        shutdown_ray(session)


def cache_for(workdir: Path, spec: EncoderSpec) -> EmbeddingCache:
    return EmbeddingCache(workdir / "embeddings", encoder_fingerprint(spec))


def embed_store_items(
    items: Sequence[dict[str, Any]], *, spec: EncoderSpec, cache: EmbeddingCache, runner: Runner
) -> tuple[NDArray[np.float32], EmbedStats]:
    """Vectors ``(n, d)`` for ``items`` (rows with ``content_hash`` and ``text``, or ``uri`` for images)."""
    inputs = [it["text"] if it.get("text") is not None else it["uri"] for it in items]
    return embed_items([it["content_hash"] for it in items], inputs, encoder_spec=spec, cache=cache, runner=runner)
