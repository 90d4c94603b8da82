from __future__ import annotations

import stat
from pathlib import Path

import pytest

from labelloop.engine.ingest.identity import content_hash, identity_hash, load_or_create_key, normalise


def test_normalise_collapses_layout_but_keeps_words_and_case() -> None:
    assert normalise("  Hello\n\tworld  ") == "Hello world"
    assert normalise("cafe\u0301") == normalise("caf\u00e9")
    assert normalise("Hello") != normalise("hello")


def test_identity_hash_is_keyed() -> None:
    text = "call me at 555-0100"
    h1 = identity_hash(b"k1", text)
    assert h1 == identity_hash(b"k1", text)
    assert h1 != identity_hash(b"k2", text)
    assert h1 != content_hash(text)  # an unkeyed hash could be reversed by guessing the PII


def test_key_is_created_once_and_private(tmp_path: Path) -> None:
    k1 = load_or_create_key(tmp_path / "w")
    assert load_or_create_key(tmp_path / "w") == k1
    assert stat.S_IMODE((tmp_path / "w" / "identity.key").stat().st_mode) == 0o600


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LL_KEY", "s3cret")
    assert load_or_create_key(tmp_path, "LL_KEY") == b"s3cret"
    monkeypatch.delenv("LL_KEY")
    with pytest.raises(KeyError, match="LL_KEY"):
        load_or_create_key(tmp_path, "LL_KEY")
