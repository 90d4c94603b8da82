"""The Ray path gives the in-process vectors, embeds only cache misses, and takes images through the same code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelloop.models.compute import InProcessRunner, RayRunner, embed_items
from labelloop.models.embedding_cache import EmbeddingCache
from labelloop.models.encoders import EncoderSpec, encoder_fingerprint
from labelloop.models.encoders.pixels import fit_pixel_pca

pytestmark = pytest.mark.integration


def test_ray_matches_in_process_and_fills_only_misses(ray_local, mixed_texts: list[str], tmp_path: Path) -> None:
    spec = EncoderSpec(batch_size=8, threads=2)
    hashes = [f"h{i}" for i in range(len(mixed_texts))]
    reference = InProcessRunner().embed(np.array(mixed_texts, dtype=object), spec).vectors

    cache = EmbeddingCache(tmp_path, encoder_fingerprint(spec))
    known = 36  # 90% already embedded in-process
    embed_items(hashes[:known], mixed_texts[:known], encoder_spec=spec, cache=cache, runner=InProcessRunner())

    runner = RayRunner(actors=1, block_rows=2, batch_rows=2)  # the 4 misses span 2 blocks
    vectors, stats = embed_items(hashes, mixed_texts, encoder_spec=spec, cache=cache, runner=runner)
    assert (stats.hits, stats.embedded) == (known, len(mixed_texts) - known)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)

    # a full Ray run over every text, several blocks, equals the in-process loop
    full = RayRunner(actors=1, block_rows=8, batch_rows=4).embed(np.array(mixed_texts, dtype=object), spec)
    np.testing.assert_allclose(full.vectors, reference, atol=1e-5)
    assert full.padded_tokens > 0

    _, again = embed_items(hashes, mixed_texts, encoder_spec=spec, cache=cache, runner=runner)
    assert again.embedded == 0 and again.hits == len(mixed_texts)


def test_pixel_encoder_through_the_same_pipeline(ray_local, datasets_dir: Path, tmp_path: Path) -> None:
    root = datasets_dir / "mnist_png"
    df = pd.read_csv(root / "labels.csv", keep_default_na=False, dtype={"label": str})
    files = [str(root / p) for p in df.path]
    train = [f for f, s in zip(files, df.split, strict=True) if s == "train"][::10]
    test = [f for f, s in zip(files, df.split, strict=True) if s == "test"][::25]
    spec = EncoderSpec(kind="pixels", path=str(fit_pixel_pca(train, tmp_path / "pca", n_components=16)), threads=1)
    cache = EmbeddingCache(tmp_path / "cache", encoder_fingerprint(spec))
    hashes = [Path(f).name for f in test]  # stand-in content ids
    # two actors × one thread over ≥ 2 blocks
    vectors, stats = embed_items(
        hashes, test, encoder_spec=spec, cache=cache, runner=RayRunner(actors=2, block_rows=10, batch_rows=5)
    )
    assert stats.embedded == len(test) and vectors.shape == (len(test), 16)
    local = InProcessRunner().embed(np.array(test, dtype=object), spec).vectors
    np.testing.assert_allclose(vectors, local, atol=1e-5)
    _, again = embed_items(hashes, test, encoder_spec=spec, cache=cache, runner=RayRunner(actors=2))
    assert again.embedded == 0
