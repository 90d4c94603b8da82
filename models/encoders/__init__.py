"""Encoders: turn items (texts; image file paths) into L2-normalised float32 vectors.

When to use what:

- :class:`EncoderSpec` (``EncoderSpec.from_config(cfg["encoder"])``): the configuration you pass around, to runners
  and to Ray workers. :func:`encoder_fingerprint` gives its cache key / lineage id without loading a model.
- :func:`load_encoder`: load in this process (one per process; loading MiniLM takes ≈2 s); ``.encode(inputs)``.
- :class:`BatchEmbedder`: the callable class for ``ray.data.Dataset.map_batches`` (one model per actor); also works on
  one NumPy batch without Ray. Prefer :func:`labelloop.models.compute.embed_items`, which adds the cache.
- :func:`labelloop.models.encoders.pixels.fit_pixel_pca`: fit the small pixel encoder for images.

Importing this package does not import torch or transformers; :func:`load_encoder` does.
"""

from labelloop.models.encoders.base import (
    EMBEDDING_COLUMN,
    INPUT_COLUMN,
    PADDED_COLUMN,
    BatchEmbedder,
    Encoder,
    EncodeResult,
    load_encoder,
)
from labelloop.models.encoders.spec import (
    CheckpointError,
    EncoderSpec,
    default_text_checkpoint,
    encoder_fingerprint,
    resolve_checkpoint,
)

__all__ = [
    "EMBEDDING_COLUMN",
    "INPUT_COLUMN",
    "PADDED_COLUMN",
    "BatchEmbedder",
    "CheckpointError",
    "EncodeResult",
    "Encoder",
    "EncoderSpec",
    "default_text_checkpoint",
    "encoder_fingerprint",
    "load_encoder",
    "resolve_checkpoint",
]
