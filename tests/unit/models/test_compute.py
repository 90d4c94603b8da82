"""embed_items with the cache: counters, not timings, prove what was embedded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelloop.models.compute import InProcessRunner, embed_items
from labelloop.models.embedding_cache import EmbeddingCache
from labelloop.models.encoders import EncodeResult, EncoderSpec, encoder_fingerprint


class CountingRunner:
    """A stand-in runner: vectors derived from the text, and a record of what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, inputs: np.ndarray, spec: EncoderSpec) -> EncodeResult:
        self.calls.append([str(x) for x in inputs])
        v = np.array([[len(x), sum(map(ord, x)) % 97, 1.0] for x in inputs], dtype=np.float32)
        return EncodeResult(vectors=v, padded_lengths=np.full(len(inputs), 3, dtype=np.int64))


@pytest.fixture
def spec() -> EncoderSpec:
    return EncoderSpec()


def test_second_run_embeds_nothing_and_ten_percent_new_embeds_only_those(tmp_path: Path, spec: EncoderSpec) -> None:
    texts = [f"text number {i}" for i in range(100)]
    hashes = [f"h{i}" for i in range(100)]
    cache = EmbeddingCache(tmp_path, encoder_fingerprint(spec))
    runner = CountingRunner()

    v1, s1 = embed_items(hashes, texts, encoder_spec=spec, cache=cache, runner=runner)
    assert (s1.embedded, s1.hits, s1.misses) == (100, 0, 100)
    assert v1.shape == (100, 3)

    v2, s2 = embed_items(
        hashes, texts, encoder_spec=spec, cache=EmbeddingCache(tmp_path, cache.fingerprint), runner=runner
    )
    assert (s2.embedded, s2.hits) == (0, 100)
    assert len(runner.calls) == 1
    np.testing.assert_array_equal(v1, v2)

    more_texts = texts + [f"new text {i}" for i in range(10)]
    more_hashes = hashes + [f"n{i}" for i in range(10)]
    v3, s3 = embed_items(more_hashes, more_texts, encoder_spec=spec, cache=cache, runner=runner)
    assert (s3.embedded, s3.hits) == (10, 100)
    assert runner.calls[-1] == more_texts[100:]
    np.testing.assert_array_equal(v3[:100], v1)
    assert cache.counters.added == 110


def test_duplicates_in_one_call_are_embedded_once(tmp_path: Path, spec: EncoderSpec) -> None:
    runner = CountingRunner()
    vectors, stats = embed_items(["a", "b", "a"], ["x", "yy", "x"], encoder_spec=spec, cache=None, runner=runner)
    assert (stats.items, stats.unique, stats.embedded) == (3, 2, 2)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert runner.calls == [["x", "yy"]]


def test_cache_of_another_encoder_is_refused(tmp_path: Path, spec: EncoderSpec) -> None:
    cache = EmbeddingCache(tmp_path, encoder_fingerprint(EncoderSpec(max_length=64)))
    with pytest.raises(ValueError, match="does not match encoder fingerprint"):
        embed_items(["a"], ["x"], encoder_spec=spec, cache=cache, runner=CountingRunner())
    with pytest.raises(ValueError, match="differ in length"):
        embed_items(["a"], ["x", "y"], encoder_spec=spec, cache=None, runner=CountingRunner())


def test_in_process_runner_with_real_encoder(tmp_path: Path, text_spec: EncoderSpec, sample_texts: list[str]) -> None:
    cache = EmbeddingCache(tmp_path, encoder_fingerprint(text_spec))
    runner = InProcessRunner()
    hashes = [f"h{i}" for i in range(len(sample_texts))]
    v, stats = embed_items(hashes[:10], sample_texts[:10], encoder_spec=text_spec, cache=cache, runner=runner)
    assert stats.embedded == 10 and stats.padded_tokens > 0
    v_all, stats = embed_items(hashes, sample_texts, encoder_spec=text_spec, cache=cache, runner=runner)
    assert (stats.hits, stats.embedded) == (10, len(sample_texts) - 10)
    np.testing.assert_array_equal(v_all[:10], v)
    np.testing.assert_allclose(np.linalg.norm(v_all, axis=1), 1.0, atol=1e-5)
