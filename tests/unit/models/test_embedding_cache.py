from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelloop.models.embedding_cache import EmbeddingCache


def vecs(n: int, d: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_empty_lookup_and_roundtrip(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "text-abc")
    found, out = cache.lookup(["a", "b"])
    assert not found.any() and out.shape == (2, 0)
    v = vecs(3)
    assert cache.add(["a", "b", "c"], v) == 3
    found, out = cache.lookup(["c", "x", "a"])
    np.testing.assert_array_equal(found, [True, False, True])
    np.testing.assert_array_equal(out[0], v[2])
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_array_equal(out[2], v[0])
    assert (cache.counters.hits, cache.counters.misses, cache.counters.added) == (2, 3, 3)


def test_persisted_as_parquet_parts_and_reloaded(tmp_path: Path) -> None:
    first = EmbeddingCache(tmp_path, "text-abc")
    first.add(["a", "b"], vecs(2))
    first.add(["b", "c"], vecs(2, seed=1))  # "b" already cached: skipped
    parts = sorted((tmp_path / "text-abc").iterdir())
    assert [p.suffix for p in parts] == [".parquet", ".parquet"]
    assert not any(p.name.startswith(".tmp") for p in parts)
    again = EmbeddingCache(tmp_path, "text-abc")
    assert len(again) == 3
    found, out = again.lookup(["a", "b", "c"])
    assert found.all()
    np.testing.assert_array_equal(out[1], vecs(2)[1])  # first writer wins
    assert again.compact() == 3
    assert len(list((tmp_path / "text-abc").glob("part-*.parquet"))) == 1
    assert len(EmbeddingCache(tmp_path, "text-abc")) == 3


def test_other_fingerprint_is_another_namespace(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, "text-abc").add(["a"], vecs(1))
    other = EmbeddingCache(tmp_path, "text-def")
    assert not other.lookup(["a"])[0].any()
    assert len(EmbeddingCache(tmp_path, "text-abc")) == 1  # nothing invalidated


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fingerprint must match"):
        EmbeddingCache(tmp_path, "../escape")
    cache = EmbeddingCache(tmp_path, "text-abc")
    cache.add(["a"], vecs(1, d=4))
    with pytest.raises(ValueError, match="width 3, this cache holds width 4"):
        cache.add(["b"], vecs(1, d=3))
    with pytest.raises(ValueError, match=r"shape \(2, dim\)"):
        cache.add(["b", "c"], vecs(3))
    bad = vecs(1)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cache.add(["z"], bad)
