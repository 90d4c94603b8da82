"""Where embeddings are computed: in this process or on Ray, behind one function, :func:`embed_items`.

When to use what:

- :func:`embed_items` ``(hashes, inputs, *, encoder_spec, cache, runner)``: the one entry point. It looks every
  content hash up in the :class:`~labelloop.models.embedding_cache.EmbeddingCache`, embeds only the misses with the
  runner, stores them, and returns vectors ``(n, d)`` in input order plus :class:`EmbedStats` (counters).
- :class:`InProcessRunner`: small jobs, tests, notebooks; no start-up cost beyond loading the model once per runner.
- :class:`RayRunner`: the default for the pipeline; the same code runs on a laptop (local Ray started by
  :func:`connect_ray` with an explicit ``num_cpus``) or on a cluster (``connect_ray("ray://host:10001")`` or
  ``"auto"``). Inputs become a ``ray.data`` dataset of Arrow blocks (a list of length-sorted chunks, so there are
  several blocks for several actors), then ``map_batches(BatchEmbedder, compute=ActorPoolStrategy(size=actors),
  batch_format="numpy")``: each actor loads the model once per dataset execution (≈4 s on 2 cores, so prefer few
  large calls over many small ones).

Sizing on a 2-core machine (bench/prelabel.md): one actor with 2 threads, or 2 actors × 1 thread; never more threads
than cores in total (2 × 2 oversubscribes and halves throughput).

Ray authentication: the local default sets ``RAY_AUTH_MODE=disabled`` (Ray 2.60 otherwise writes a token file for a
private local cluster). On a shared cluster leave it unset and use the token your cluster issues.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from labelloop.models.embedding_cache import EmbeddingCache
from labelloop.models.encoders.base import (
    EMBEDDING_COLUMN,
    INPUT_COLUMN,
    PADDED_COLUMN,
    BatchEmbedder,
    Encoder,
    EncodeResult,
    load_encoder,
)
from labelloop.models.encoders.spec import EncoderSpec, encoder_fingerprint

logger = logging.getLogger(__name__)

ROW_COLUMN = "row"

#: Environment every worker needs: no hub downloads, no tokenizer thread pools fighting torch's.
WORKER_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class Runner(Protocol):
    """Computes embeddings for a spec; :func:`embed_items` calls it with the cache misses only."""

    def embed(self, inputs: NDArray[np.object_], spec: EncoderSpec) -> EncodeResult: ...


# -- in-process ----------------------------------------------------------------------------------------------------
class InProcessRunner:
    """Loads each spec's encoder once (on first use) and embeds in this process with ``spec.threads`` threads."""

    def __init__(self) -> None:
        self._encoders: dict[str, Encoder] = {}

    def encoder(self, spec: EncoderSpec) -> Encoder:
        key = spec.model_dump_json()
        if key not in self._encoders:
            self._encoders[key] = load_encoder(spec)
        return self._encoders[key]

    def embed(self, inputs: NDArray[np.object_], spec: EncoderSpec) -> EncodeResult:
        return self.encoder(spec).encode(inputs)


# -- Ray -------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaySession:
    """An open Ray connection: ``address`` (None = local), ``started`` (we started it, so we shut it down), and
    ``init_seconds`` (``ray.init`` wall time, reported apart from embedding throughput)."""

    address: str | None
    started: bool
    init_seconds: float
    num_cpus: int | None


def connect_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = 2,
    log_to_driver: bool = False,
    env_vars: dict[str, str] | None = None,
) -> RaySession:
    """Start local Ray (``address=None``) or connect to a cluster (``"ray://host:10001"``, ``"auto"``).

    Local: explicit ``num_cpus`` (Ray would otherwise claim every core it sees), no dashboard, warnings only,
    ``RAY_AUTH_MODE=disabled`` unless the caller set it. If Ray is already initialised in this process it is reused
    (``started=False``) whatever the arguments. Workers get :data:`WORKER_ENV` (+ ``env_vars``) through the runtime
    environment, so the same code behaves the same on a cluster.
    """
    import ray

    if ray.is_initialized():
        return RaySession(address=address, started=False, init_seconds=0.0, num_cpus=None)
    kwargs: dict[str, object] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": log_to_driver,
        "runtime_env": {"env_vars": {**WORKER_ENV, **(env_vars or {})}},
    }
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    else:
        kwargs["address"] = address
    start = time.perf_counter()
    ray.init(**kwargs)
    seconds = time.perf_counter() - start
    _quiet_ray_data()
    logger.info("ray connected address=%s num_cpus=%s seconds=%.2f", address or "local", num_cpus, seconds)
    return RaySession(address=address, started=True, init_seconds=seconds, num_cpus=num_cpus)


def shutdown_ray(session: RaySession) -> None:
    """Shut Ray down if ``session`` started it (a connection we reused is left alone)."""
    import ray

    if session.started and ray.is_initialized():
        ray.shutdown()


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = 2) -> Iterator[RaySession]:
    """``with ray_session() as s:`` — :func:`connect_ray`, then :func:`shutdown_ray` on exit."""
    session = connect_ray(address, num_cpus=num_cpus)
    try:
        yield session
    finally:
        shutdown_ray(session)


def _quiet_ray_data() -> None:
    """No progress bars or execution banners from Ray Data in this driver."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # "execution finished" INFO lines
    ctx = ray.data.DataContext.get_current()
    for name, value in (("enable_progress_bars", False), ("print_on_execution_start", False)):
        if hasattr(ctx, name):
            setattr(ctx, name, value)


def _lengths(inputs: NDArray[np.object_]) -> NDArray[np.int64]:
    return np.fromiter((len(x) for x in inputs), dtype=np.int64, count=len(inputs))


@dataclass
class RayRunner:
    """Embeds on the connected Ray cluster with an actor pool of ``actors`` actors × ``spec.threads`` threads.

    - ``block_rows``: rows per input block (at least ``2 × actors`` blocks are made so no actor idles).
    - ``batch_rows``: rows per ``map_batches`` call (each call is length-sorted and cut into ``spec.batch_size``
      forward batches inside the actor).

    Inputs are sorted by character length (longest first) before they are cut into blocks, so every block, and
    therefore every forward batch, holds texts of similar length: the same padding saving the in-process loop gets.
    """

    actors: int = 1
    block_rows: int = 4096
    batch_rows: int = 1024
    last_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        for name in ("actors", "block_rows", "batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"RayRunner.{name} must be >= 1; got {getattr(self, name)}")

    def dataset(self, inputs: NDArray[np.object_], spec: EncoderSpec):  # -> ray.data.Dataset
        """The lazy ``ray.data`` pipeline for ``inputs`` (n,): columns ``row``, ``embedding`` ``(d,)``,
        ``padded_tokens``."""
        import pyarrow as pa
        import ray
        import ray.data

        if not ray.is_initialized():
            raise RuntimeError("Ray is not initialised: call labelloop.models.compute.connect_ray() first")
        n = len(inputs)
        order = np.argsort(-_lengths(inputs), kind="stable")
        n_blocks = max(2 * self.actors, math.ceil(n / self.block_rows))
        n_blocks = min(n_blocks, n)
        tables = [
            pa.table(
                {
                    ROW_COLUMN: pa.array(idx, type=pa.int64()),
                    INPUT_COLUMN: pa.array([str(inputs[i]) for i in idx], type=pa.large_string()),
                }
            )
            for idx in np.array_split(order, n_blocks)
        ]
        return ray.data.from_arrow(tables).map_batches(
            BatchEmbedder,
            fn_constructor_kwargs={"spec": spec},
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            batch_size=self.batch_rows,
            batch_format="numpy",
            num_cpus=spec.threads,
        )

    def embed(self, inputs: NDArray[np.object_], spec: EncoderSpec) -> EncodeResult:
        """Vectors ``(n, d)`` in input order; actors start, load the model, embed, and exit within this call.

        Through Ray Client (``ray://``) the pipeline runs inside one zero-CPU task on the cluster: Ray Data's
        executor needs a core worker in its driver, which a client process does not have.
        """
        n = len(inputs)
        start = time.perf_counter()
        if n == 0:
            raise ValueError("RayRunner.embed needs at least one input (an empty dataset has no vector width)")
        if _ray_client_connected():
            import ray

            task = ray.remote(num_cpus=0)(_embed_on_cluster)
            params = {"actors": self.actors, "block_rows": self.block_rows, "batch_rows": self.batch_rows}
            result: EncodeResult = ray.get(task.remote(params, inputs, spec))
            self.last_seconds = time.perf_counter() - start
            return result
        vectors: NDArray[np.float32] | None = None
        padded = np.zeros(n, dtype=np.int64)
        seen = np.zeros(n, dtype=bool)
        for batch in self.dataset(inputs, spec).iter_batches(batch_size=None, batch_format="numpy"):
            rows = batch[ROW_COLUMN]
            emb = np.asarray(batch[EMBEDDING_COLUMN], dtype=np.float32)
            if vectors is None:
                vectors = np.empty((n, emb.shape[1]), dtype=np.float32)
            vectors[rows] = emb
            padded[rows] = batch[PADDED_COLUMN]
            seen[rows] = True
        if vectors is None or not seen.all():
            raise RuntimeError(f"Ray pipeline returned {int(seen.sum())} of {n} rows")
        self.last_seconds = time.perf_counter() - start
        return EncodeResult(vectors=vectors, padded_lengths=padded)


def _ray_client_connected() -> bool:
    import ray.util.client

    return bool(ray.util.client.ray.is_connected())


def _embed_on_cluster(params: dict[str, int], inputs: NDArray[np.object_], spec: EncoderSpec) -> EncodeResult:
    """Runs as a Ray task on the cluster (a full worker): the same pipeline a local driver runs."""
    _quiet_ray_data()
    return RayRunner(**params).embed(inputs, spec)


# -- orchestration ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbedStats:
    """Counters of one :func:`embed_items` call. ``items`` rows asked, ``unique`` distinct hashes among them,
    ``hits``/``misses`` cache look-ups (of unique hashes), ``embedded`` rows the runner computed, ``padded_tokens``
    token positions the model computed, ``seconds`` wall time of the call."""

    fingerprint: str
    items: int
    unique: int
    hits: int
    misses: int
    embedded: int
    padded_tokens: int
    seconds: float


def embed_items(
    hashes: Sequence[str],
    inputs: Sequence[str] | NDArray[np.object_],
    *,
    encoder_spec: EncoderSpec,
    cache: EmbeddingCache | None,
    runner: Runner,
) -> tuple[NDArray[np.float32], EmbedStats]:
    """Embed items through the cache: ``hashes`` (n,) content hashes of exactly the ``inputs`` (n,) embedded
    (texts, or image paths for pixel encoders). Returns vectors ``(n, d)`` float32 in input order and the stats.

    Duplicate hashes in one call are embedded once. ``cache`` must belong to this encoder
    (``cache.fingerprint == encoder_fingerprint(encoder_spec)``), otherwise ``ValueError``: a mismatch would mix
    vectors of two models. ``cache=None`` embeds everything.
    """
    start = time.perf_counter()
    if len(hashes) != len(inputs):
        raise ValueError(f"hashes and inputs differ in length: {len(hashes)} vs {len(inputs)}")
    fp = encoder_fingerprint(encoder_spec)
    if cache is not None and cache.fingerprint != fp:
        raise ValueError(f"cache fingerprint {cache.fingerprint!r} does not match encoder fingerprint {fp!r}")
    n = len(hashes)
    first: dict[str, int] = {}  # hash -> index among unique hashes
    first_rows: list[int] = []  # unique index -> first input row with that hash
    where = np.empty(n, dtype=np.int64)  # input row -> unique index
    for i, h in enumerate(hashes):
        j = first.get(h)
        if j is None:
            j = first[h] = len(first_rows)
            first_rows.append(i)
        where[i] = j
    unique_hashes = list(first)
    if cache is not None:
        found, cached = cache.lookup(unique_hashes)
    else:
        found, cached = np.zeros(len(unique_hashes), dtype=bool), np.zeros((len(unique_hashes), 0), np.float32)
    miss = np.flatnonzero(~found)
    padded_tokens = 0
    unique_vectors = cached
    if len(miss):
        arr = np.empty(len(miss), dtype=object)
        arr[:] = [inputs[first_rows[j]] for j in miss]
        result = runner.embed(arr, encoder_spec)
        padded_tokens = result.padded_tokens
        if cached.shape[1] == 0:
            # empty cache (no width yet): nothing was found, so every row comes from the runner
            unique_vectors = np.zeros((len(unique_hashes), result.vectors.shape[1]), dtype=np.float32)
        elif result.vectors.shape[1] != cached.shape[1]:
            raise ValueError(f"encoder width {result.vectors.shape[1]} differs from cached width {cached.shape[1]}")
        unique_vectors[miss] = result.vectors
        if cache is not None:
            cache.add([unique_hashes[j] for j in miss], result.vectors)
    vectors = unique_vectors[where] if n else np.zeros((0, unique_vectors.shape[1]), np.float32)
    stats = EmbedStats(
        fingerprint=fp,
        items=n,
        unique=len(unique_hashes),
        hits=int(found.sum()),
        misses=len(miss),
        embedded=len(miss),
        padded_tokens=padded_tokens,
        seconds=time.perf_counter() - start,
    )
    logger.info(
        "embed_items fingerprint=%s items=%d unique=%d hits=%d embedded=%d seconds=%.2f",
        fp,
        n,
        stats.unique,
        stats.hits,
        stats.embedded,
        stats.seconds,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32), stats
