"""Our agreement measures against independent implementations (statsmodels, krippendorff) on real ConvAbuse data."""

from __future__ import annotations

from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from labelloop.engine.quality.agreement import (
    cohen_kappa,
    fleiss_kappa,
    fleiss_table,
    krippendorff_alpha,
    percent_agreement,
)

LEVELS = [-3, -2, -1, 0, 1]  # is_abuse: very strongly abusive ... not abusive (ordinal)


@pytest.fixture(scope="module")
def convabuse(datasets_dir: Path) -> pd.DataFrame:
    df = pd.read_csv(datasets_dir / "convabuse" / "convabuse_annotations.csv", keep_default_na=False)
    return df[df.annotation_index == 1]


def _ratings(df: pd.DataFrame) -> list[tuple]:
    return list(zip(df["id"], df["rater_id"], df["is_abuse"].astype(int), strict=True))


def _reliability(df: pd.DataFrame) -> np.ndarray:
    wide = df.pivot(index="rater_id", columns="id", values="is_abuse").astype(float)
    return wide.to_numpy()


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_krippendorff_alpha_matches_the_krippendorff_package(convabuse: pd.DataFrame, level: str) -> None:
    ours = krippendorff_alpha(_ratings(convabuse), level=level, categories=LEVELS)
    ref = krippendorff.alpha(reliability_data=_reliability(convabuse), level_of_measurement=level, value_domain=LEVELS)
    assert abs(ours.value - ref) < 1e-6
    assert 0 < ours.value < 1


def test_fleiss_kappa_matches_statsmodels(convabuse: pd.DataFrame) -> None:
    ratings = _ratings(convabuse)
    ours = fleiss_kappa(ratings, LEVELS)
    ref = sm_fleiss_kappa(fleiss_table(ratings, LEVELS), method="fleiss")
    assert abs(ours.value - ref) < 1e-6 and ours.items_used > 1000


def test_cohen_kappa_matches_scikit_learn(convabuse: pd.DataFrame) -> None:
    wide = convabuse.pivot(index="id", columns="rater_id", values="is_abuse")
    pair = max(
        ((a, b) for a in wide.columns for b in wide.columns if a < b),
        key=lambda p: int(wide[[p[0], p[1]]].notna().all(axis=1).sum()),
    )
    both = wide[[pair[0], pair[1]]].dropna()
    ours = cohen_kappa(_ratings(convabuse), *pair)
    assert ours.items_used == len(both)
    assert abs(ours.value - cohen_kappa_score(both[pair[0]], both[pair[1]])) < 1e-6


def test_percent_agreement_and_edge_cases() -> None:
    ratings = [("i1", "a", "x"), ("i1", "b", "x"), ("i2", "a", "x"), ("i2", "b", "y"), ("i3", "a", "y")]
    assert percent_agreement(ratings).value == pytest.approx(0.5)
    assert percent_agreement(ratings).items_used == 2
    assert krippendorff_alpha([("i1", "a", "x"), ("i1", "b", "x"), ("i2", "a", "y"), ("i2", "b", "y")]).value == 1.0
    with pytest.raises(ValueError, match="rated item 'i1' twice"):
        percent_agreement([("i1", "a", "x"), ("i1", "a", "y")])
    with pytest.raises(ValueError, match="ordinal alpha needs the categories"):
        krippendorff_alpha(ratings, level="ordinal")
    with pytest.raises(ValueError, match="not among the categories"):
        fleiss_kappa(ratings, categories=["x"])
