from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelloop.models.encoders import EncoderSpec, encoder_fingerprint
from labelloop.models.encoders.fingerprint import Hasher, fingerprint, hash_files


def h(value: object) -> str:
    return Hasher().update(value).hexdigest()


def test_type_tags_keep_values_apart() -> None:
    assert h(1) != h("1") != h(1.0)
    assert h(True) != h(1)
    assert h(["ab"]) != h(["a", "b"])
    assert h([1, 2]) != h((1, 2))
    assert h(None) != h("")
    assert h(np.zeros(3, np.float32)) != h(np.zeros(3, np.float64))
    assert h(np.zeros((2, 3))) != h(np.zeros((3, 2)))


def test_stable_and_order_free_for_dicts() -> None:
    assert h({"a": 1, "b": [1, 2]}) == h({"b": [1, 2], "a": 1})
    # a pinned value: changing the encoding must be a deliberate, visible change (it invalidates every cache)
    assert h({"a": [1, 2.5, "x", None, True]}) == "4a33217fa6f6afcd7fb78df0c8c9591b4a433bc9121bbadc95f6d63b85261ebc"
    assert fingerprint("text", max_length=128) == "text-3e19c1076d56f49951520c9e"


def test_unknown_type_is_an_error_not_a_random_fallback() -> None:
    with pytest.raises(TypeError, match="cannot fingerprint a value of type object"):
        h(object())
    with pytest.raises(TypeError, match="dtype object"):
        h(np.array(["a", None], dtype=object))


def test_hash_files_covers_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("y")
    base = hash_files(tmp_path, ["a.txt", "b.txt"])
    assert base == hash_files(tmp_path, ["b.txt", "a.txt"])
    (tmp_path / "b.txt").write_text("z")
    assert hash_files(tmp_path, ["a.txt", "b.txt"]) != base
    with pytest.raises(FileNotFoundError):
        hash_files(tmp_path, ["missing.txt"])


def test_encoder_fingerprint_tracks_what_changes_vectors(checkpoint_copy: Path) -> None:
    default = encoder_fingerprint(EncoderSpec())
    assert default == encoder_fingerprint(EncoderSpec())
    # content-addressed: the same files elsewhere give the same fingerprint
    assert encoder_fingerprint(EncoderSpec(path=str(checkpoint_copy))) == default
    # speed settings do not change it
    assert encoder_fingerprint(EncoderSpec(batch_size=3, threads=1)) == default
    # output-defining settings do
    others = {
        encoder_fingerprint(EncoderSpec(max_length=64)),
        encoder_fingerprint(EncoderSpec(quantize="int8")),
        encoder_fingerprint(EncoderSpec(normalize=False)),
    }
    assert default not in others and len(others) == 3
    # so do the tokenizer files
    with (checkpoint_copy / "vocab.txt").open("a") as fh:
        fh.write("newtoken\n")
    assert encoder_fingerprint(EncoderSpec(path=str(checkpoint_copy))) != default
