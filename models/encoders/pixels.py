"""A small image encoder: PCA over grey-scale pixels, fitted deterministically and saved as a checkpoint folder.

It exists to prove that images go through the same pipeline as texts (spec → fingerprint → cache → in-process or Ray
runner) before a real image model is chosen; it is also a cheap baseline for digit-like images.

- :func:`fit_pixel_pca` fits on a list of image files and writes ``pixel_pca.npz`` + ``pixel_encoder.json`` into a
  folder; use ``EncoderSpec(kind="pixels", path=<folder>)`` afterwards.
- :class:`PixelPCAEncoder` loads that folder; ``encode(paths)`` reads each file (any format PIL reads), converts it to
  grey-scale, resizes it to the fitted size and projects it: vectors ``(n, n_components)`` float32.

Determinism: the fit is an exact SVD (LAPACK) of the centred pixel matrix with signs fixed so that the largest
absolute loading of each component is positive; same images in the same order give byte-identical files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from labelloop.models.encoders.base import EncodeResult
from labelloop.models.encoders.spec import (
    PIXEL_CONFIG,
    PIXEL_WEIGHTS,
    EncoderSpec,
    encoder_fingerprint,
    pixel_checkpoint_files,
    resolve_checkpoint,
)

logger = logging.getLogger(__name__)


def load_pixels(paths: Sequence[str | Path], size: tuple[int, int]) -> NDArray[np.float32]:
    """Read images as grey-scale, resize to ``size`` (width, height), scale to [0, 1]: ``(n, width * height)``."""
    from PIL import Image

    out = np.empty((len(paths), size[0] * size[1]), dtype=np.float32)
    for i, p in enumerate(paths):
        with Image.open(p) as img:
            grey = img.convert("L")
            if grey.size != size:
                grey = grey.resize(size, Image.Resampling.BILINEAR)
            out[i] = np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0
    return out


def fit_pixel_pca(
    images: Sequence[str | Path], out_dir: Path, *, n_components: int = 32, size: tuple[int, int] = (28, 28)
) -> Path:
    """Fit PCA on ``images`` and write the checkpoint folder ``out_dir`` (created); returns ``out_dir``.

    ``n_components`` must not exceed ``min(len(images), width * height)``.
    """
    if len(images) < 2:
        raise ValueError(f"fit_pixel_pca needs at least 2 images, got {len(images)}")
    limit = min(len(images), size[0] * size[1])
    if not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be in [1, {limit}] for {len(images)} images of {size}; got {n_components}")
    x = load_pixels(images, size).astype(np.float64)  # (n, p)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)  # vt: (min(n, p), p)
    comps = vt[:n_components]
    signs = np.sign(comps[np.arange(n_components), np.argmax(np.abs(comps), axis=1)])
    comps = comps * signs[:, None]
    explained = (s[:n_components] ** 2) / max(float((s**2).sum()), 1e-12)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / PIXEL_WEIGHTS).open("wb") as fh:
        np.savez(fh, mean=mean.astype(np.float32), components=comps.astype(np.float32))
    config = {
        "type": "pixel-pca",
        "version": 1,
        "size": list(size),
        "n_components": n_components,
        "n_fit_images": len(images),
        "explained_variance_ratio": [round(float(v), 8) for v in explained],
    }
    (out_dir / PIXEL_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("pixel pca fitted images=%d components=%d out=%s", len(images), n_components, out_dir)
    return out_dir


class PixelPCAEncoder:
    """A loaded pixel-PCA encoder. ``encode(paths)`` → :class:`EncodeResult` with vectors ``(n, n_components)``."""

    def __init__(self, spec: EncoderSpec) -> None:
        if spec.kind != "pixels":
            raise ValueError(f"PixelPCAEncoder needs an encoder spec of kind 'pixels', got {spec.kind!r}")
        self.spec = spec
        self.path = resolve_checkpoint(spec)
        pixel_checkpoint_files(self.path)
        self.fingerprint = encoder_fingerprint(spec)
        config = json.loads((self.path / PIXEL_CONFIG).read_text(encoding="utf-8"))
        self.size: tuple[int, int] = (int(config["size"][0]), int(config["size"][1]))
        with np.load(self.path / PIXEL_WEIGHTS) as data:
            self.mean: NDArray[np.float32] = data["mean"]
            self.components: NDArray[np.float32] = data["components"]  # (n_components, width * height)
        self.dim = int(self.components.shape[0])

    def encode(self, inputs: Sequence[str] | NDArray[np.object_] | NDArray[np.str_]) -> EncodeResult:
        """``inputs``: image file paths ``(n,)``; returns vectors ``(n, n_components)`` float32 in input order."""
        paths = [str(p) for p in inputs]
        n = len(paths)
        padded = np.zeros(n, dtype=np.int64)
        if n == 0:
            return EncodeResult(vectors=np.empty((0, self.dim), dtype=np.float32), padded_lengths=padded)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, self.spec.batch_size):
            chunk = load_pixels(paths[start : start + self.spec.batch_size], self.size)
            out[start : start + len(chunk)] = (chunk - self.mean) @ self.components.T
        if self.spec.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return EncodeResult(vectors=out, padded_lengths=padded)
