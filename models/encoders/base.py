"""The encoder interface every input kind implements, and the batch callable Ray runs.

- :func:`load_encoder` builds the encoder a spec names (text or pixels); use it in-process.
- :class:`BatchEmbedder` is the callable class for ``Dataset.map_batches``: the model is loaded once per actor in
  ``__init__``; ``__call__`` takes a NumPy batch ``{"input": (b,), ...}`` and returns it with ``"embedding"`` ``(b, d)``
  float32 and ``"padded_tokens"`` ``(b,)`` added (other columns, such as a row index, pass through). Call it on one
  batch directly to test it without Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from labelloop.models.encoders.spec import EncoderSpec

INPUT_COLUMN = "input"
EMBEDDING_COLUMN = "embedding"
PADDED_COLUMN = "padded_tokens"


@dataclass(frozen=True)
class EncodeResult:
    """Output of one ``encode`` call: ``vectors`` ``(n, d)`` float32 in input order; ``padded_lengths`` ``(n,)`` int64,
    the padded width of the forward batch each row ran in (0 for inputs without tokens, such as images)."""

    vectors: NDArray[np.float32]
    padded_lengths: NDArray[np.int64]

    @property
    def padded_tokens(self) -> int:
        return int(self.padded_lengths.sum())


class Encoder(Protocol):
    """What the pipeline needs from a loaded encoder, whatever the input kind.

    ``encode`` takes strings: texts for text encoders, file paths (or URIs the encoder can open) for image encoders.
    """

    spec: EncoderSpec
    fingerprint: str
    dim: int

    def encode(self, inputs: Sequence[str] | NDArray[np.object_] | NDArray[np.str_]) -> EncodeResult: ...


def load_encoder(spec: EncoderSpec) -> Encoder:
    """Load the encoder ``spec`` names (heavy: imports torch for text, reads weights). One per process or actor."""
    if spec.kind == "text":
        from labelloop.models.encoders.text import TextEncoder

        return TextEncoder(spec)
    if spec.kind == "pixels":
        from labelloop.models.encoders.pixels import PixelPCAEncoder

        return PixelPCAEncoder(spec)
    raise ValueError(f"unknown encoder kind {spec.kind!r}; known: 'text', 'pixels'")  # pragma: no cover


class BatchEmbedder:
    """Ray Data callable class (also usable as a plain function object): loads the encoder once, embeds batches."""

    def __init__(self, spec: EncoderSpec) -> None:
        self.encoder = load_encoder(spec)
        self.fingerprint = self.encoder.fingerprint

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``batch[INPUT_COLUMN]`` ``(b,)`` strings → the other columns plus ``embedding`` ``(b, d)`` and
        ``padded_tokens`` ``(b,)``."""
        if INPUT_COLUMN not in batch:
            raise KeyError(f"batch has no {INPUT_COLUMN!r} column; columns: {sorted(batch)}")
        result = self.encoder.encode(batch[INPUT_COLUMN])
        out = {k: v for k, v in batch.items() if k != INPUT_COLUMN}
        out[EMBEDDING_COLUMN] = result.vectors
        out[PADDED_COLUMN] = result.padded_lengths
        return out
