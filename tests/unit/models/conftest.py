"""Fixtures for the model unit tests: small real inputs from the shared datasets, one loaded encoder per session,
and a socket guard that turns any network access into a test failure."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from labelloop.models.encoders import EncoderSpec, default_text_checkpoint, load_encoder


class NetworkBlockedError(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connect / DNS lookup in the test raises (the encoder must never reach a hub)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkBlockedError(f"network access attempted: {args!r:.120}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


@pytest.fixture(scope="session")
def sample_texts(datasets_dir: Path) -> list[str]:
    """24 real texts of mixed length: 12 short TREC questions, 12 longer AG News items."""
    trec = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    ag = pd.read_csv(datasets_dir / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)
    return trec.text.tolist()[:12] + ag.text.tolist()[:12]


@pytest.fixture(scope="session")
def text_spec() -> EncoderSpec:
    return EncoderSpec(batch_size=8, threads=2)


@pytest.fixture(scope="session")
def text_encoder(text_spec: EncoderSpec):
    return load_encoder(text_spec)


@pytest.fixture
def checkpoint_copy(tmp_path: Path) -> Path:
    """A copy of the default checkpoint in an arbitrary folder."""
    dst = tmp_path / "my checkpoint"
    shutil.copytree(default_text_checkpoint(), dst)
    return dst


@pytest.fixture(scope="session")
def mnist(datasets_dir: Path) -> pd.DataFrame:
    root = datasets_dir / "mnist_png"
    df = pd.read_csv(root / "labels.csv", keep_default_na=False, dtype={"label": str})
    df["file"] = [str(root / p) for p in df.path]
    return df
