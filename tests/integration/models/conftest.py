"""One local Ray instance for the whole test session (starting Ray costs 3-9 s and ≈700 MB), shut down at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from labelloop.models.compute import RaySession, connect_ray, shutdown_ray


@pytest.fixture(scope="session")
def ray_local() -> Iterator[RaySession]:
    session = connect_ray(num_cpus=2)
    try:
        yield session
    finally:
        shutdown_ray(session)


@pytest.fixture(scope="session")
def mixed_texts(datasets_dir: Path) -> list[str]:
    """40 real texts: short questions, movie-review sentences and longer news items."""
    trec = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False).text.tolist()
    mr = pd.read_csv(datasets_dir / "mr_polarity" / "mr_polarity.csv", keep_default_na=False).text.tolist()
    ag = pd.read_csv(datasets_dir / "ag_news_test" / "ag_news_test.csv", keep_default_na=False).text.tolist()
    return trec[:15] + mr[:15] + ag[:10]
