from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelloop.models.encoders import BatchEmbedder, CheckpointError, EncoderSpec, encoder_fingerprint, load_encoder
from labelloop.models.encoders.pixels import fit_pixel_pca


def test_fit_is_deterministic_and_fingerprinted(mnist: pd.DataFrame, tmp_path: Path) -> None:
    files = mnist[mnist.split == "train"].file.tolist()[::20]  # 100 images, all digits
    a = fit_pixel_pca(files, tmp_path / "a", n_components=16)
    b = fit_pixel_pca(files, tmp_path / "b", n_components=16)
    assert (a / "pixel_pca.npz").read_bytes() == (b / "pixel_pca.npz").read_bytes()
    fa = encoder_fingerprint(EncoderSpec(kind="pixels", path=str(a)))
    assert fa == encoder_fingerprint(EncoderSpec(kind="pixels", path=str(b)))
    assert fa.startswith("pixels-")
    c = fit_pixel_pca(files[:50], tmp_path / "c", n_components=16)
    assert encoder_fingerprint(EncoderSpec(kind="pixels", path=str(c))) != fa


def test_pixel_vectors_separate_digits(mnist: pd.DataFrame, tmp_path: Path) -> None:
    train = mnist[mnist.split == "train"].iloc[::10]  # 200 images
    test = mnist[mnist.split == "test"].iloc[::10]  # 100 images
    spec = EncoderSpec(kind="pixels", path=str(fit_pixel_pca(train.file.tolist(), tmp_path / "pca", n_components=24)))
    enc = load_encoder(spec)
    xtr = enc.encode(train.file.tolist()).vectors
    out = BatchEmbedder(spec)({"input": np.array(test.file.tolist(), dtype=object)})
    xte = out["embedding"]
    assert xte.shape == (len(test), 24) and xte.dtype == np.float32
    np.testing.assert_array_equal(out["padded_tokens"], 0)
    # nearest neighbour on 24 PCA dims: far above chance (0.1)
    nn = np.argmax(xte @ xtr.T, axis=1)
    assert (train.label.to_numpy()[nn] == test.label.to_numpy()).mean() > 0.6


def test_incomplete_pixel_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "pixel_encoder.json").write_text("{}")
    with pytest.raises(CheckpointError, match=rf"{tmp_path} is incomplete: missing pixel_pca.npz"):
        load_encoder(EncoderSpec(kind="pixels", path=str(tmp_path)))
    with pytest.raises(CheckpointError, match="no default checkpoint"):
        encoder_fingerprint(EncoderSpec(kind="pixels"))
