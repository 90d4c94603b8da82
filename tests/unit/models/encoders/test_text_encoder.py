from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from labelloop.models.encoders import (
    EMBEDDING_COLUMN,
    PADDED_COLUMN,
    BatchEmbedder,
    CheckpointError,
    EncoderSpec,
    load_encoder,
)


def test_vectors_are_unit_norm_float32_in_input_order(text_encoder, sample_texts: list[str]) -> None:
    res = text_encoder.encode(sample_texts)
    assert res.vectors.shape == (len(sample_texts), 384)
    assert res.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(res.vectors, axis=1), 1.0, atol=1e-5)
    rev = text_encoder.encode(sample_texts[::-1])
    np.testing.assert_allclose(rev.vectors[::-1], res.vectors, atol=1e-5)
    # length-sorted dynamic padding: short and long texts do not share a padded width
    assert res.padded_lengths[:12].max() < res.padded_lengths[12:].max() <= text_encoder.spec.max_length
    assert res.padded_tokens == int(res.padded_lengths.sum())


def test_batching_does_not_change_vectors(text_encoder, sample_texts: list[str]) -> None:
    one_by_one = np.stack([text_encoder.encode([t]).vectors[0] for t in sample_texts[:6]])
    batched = text_encoder.encode(sample_texts[:6]).vectors
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)


def test_empty_input(text_encoder) -> None:
    res = text_encoder.encode([])
    assert res.vectors.shape == (0, 384)


def test_batch_embedder_on_one_batch_without_ray(text_spec: EncoderSpec, sample_texts: list[str]) -> None:
    embed = BatchEmbedder(text_spec)
    batch = {"row": np.arange(5), "input": np.array(sample_texts[:5], dtype=object)}
    out = embed(batch)
    assert set(out) == {"row", EMBEDDING_COLUMN, PADDED_COLUMN}
    np.testing.assert_array_equal(out["row"], np.arange(5))
    assert out[EMBEDDING_COLUMN].shape == (5, 384)
    with pytest.raises(KeyError, match="no 'input' column"):
        embed({"text": batch["input"]})


def test_loads_any_local_checkpoint_without_network(
    checkpoint_copy: Path, no_network: None, text_encoder, sample_texts: list[str]
) -> None:
    enc = load_encoder(EncoderSpec(path=str(checkpoint_copy), batch_size=8))
    assert enc.path == checkpoint_copy.resolve()
    np.testing.assert_allclose(
        enc.encode(sample_texts[:4]).vectors, text_encoder.encode(sample_texts[:4]).vectors, atol=1e-6
    )


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError, match=f"does not exist: {missing}"):
        load_encoder(EncoderSpec(path=str(missing)))


@pytest.mark.parametrize(
    ("remove", "expected"),
    [("model.safetensors", "missing weights"), ("config.json", "missing config.json"), ("tokenizer", "tokenizer")],
)
def test_incomplete_checkpoint_names_path_and_files(checkpoint_copy: Path, remove: str, expected: str) -> None:
    names = ["tokenizer.json", "vocab.txt"] if remove == "tokenizer" else [remove]
    for name in names:
        (checkpoint_copy / name).unlink()
    with pytest.raises(CheckpointError, match=expected) as err:
        load_encoder(EncoderSpec(path=str(checkpoint_copy)))
    assert str(checkpoint_copy) in str(err.value)


def test_spec_config_errors_name_the_key() -> None:
    assert EncoderSpec.from_config({"max_length": 64, "quantize": "int8"}).max_length == 64
    with pytest.raises(ValueError, match=r"'encoder\.max_length' parameter is invalid.*got -1"):
        EncoderSpec.from_config({"max_length": -1})
    with pytest.raises(ValueError, match=r"'encoder\.colour'"):
        EncoderSpec.from_config({"colour": "red"})
    with pytest.raises(ValueError, match=r"'encoder\.quantize'"):
        EncoderSpec.from_config({"quantize": "fp4"})


def test_int8_mode_is_close_but_not_identical(text_encoder, sample_texts: list[str]) -> None:
    q = load_encoder(EncoderSpec(quantize="int8-selective", batch_size=8))
    assert q.fingerprint != text_encoder.fingerprint
    cos = (q.encode(sample_texts).vectors * text_encoder.encode(sample_texts).vectors).sum(axis=1)
    assert 0.9 < cos.mean() < 1.0


def test_copy_is_independent_of_the_package(checkpoint_copy: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.move(checkpoint_copy, moved)
    assert load_encoder(EncoderSpec(path=str(moved), batch_size=4)).dim == 384
