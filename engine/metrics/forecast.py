"""Capacity forecast: when the backlog will be done, how many annotator-hours a target needs, and how many labels
an accuracy target needs — each with an 80% interval (10th–90th percentile), never a bare number.

- Backlog completion: daily label counts on the days people labelled are resampled (bootstrap) to a mean daily
  rate; days to clear = backlog / rate. It assumes the coming days look like the observed ones (same team, same
  hours); with fewer than 3 labelled days it refuses (a note says so).
- Annotator-hours for N labels: N × the mean lead time per answered label, resampled.
- Labels for an accuracy target: the model versions' (labels, accuracy) points are fitted with the inverse power
  law ``acc(n) = a − b · n^(−c)`` (learning curves of this kind are well described by it; Figueroa et al. 2012),
  and the fit is repeated on bootstrap resamples of the points. A target above the fitted asymptote ``a`` is "not
  reachable by more labels of this kind"; fewer than 4 points give no forecast.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MIN_DAYS = 3
MIN_CURVE_POINTS = 4


@dataclass(frozen=True)
class Interval:
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class Forecast:
    value: Interval | None
    unit: str
    basis: str
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(samples: np.ndarray) -> Interval:
    # "nearest": no interpolation, so an unreachable (infinite) resample yields inf, never inf − inf = nan.
    p10, p50, p90 = np.percentile(samples, [10, 50, 90], method="nearest")
    return Interval(float(p10), float(p50), float(p90))


def backlog_days(
    daily_labels: Sequence[int], backlog: int, *, rng: np.random.Generator, n_boot: int = 2000
) -> Forecast:
    """Days until ``backlog`` answers are in, from the labels per labelled day seen so far."""
    days = np.asarray([d for d in daily_labels if d > 0], dtype=float)
    basis = f"{len(days)} labelled days, {int(days.sum())} labels"
    if backlog <= 0:
        return Forecast(Interval(0.0, 0.0, 0.0), "days", basis, "no backlog")
    if len(days) < MIN_DAYS:
        return Forecast(None, "days", basis, f"needs at least {MIN_DAYS} labelled days of history")
    means = rng.choice(days, size=(n_boot, len(days)), replace=True).mean(axis=1)
    return Forecast(_interval(backlog / means), "days", basis, extra={"mean_labels_per_day": float(days.mean())})


def annotator_hours(
    lead_times_s: Sequence[float], labels: int, *, rng: np.random.Generator, n_boot: int = 2000
) -> Forecast:
    """Annotator-hours ``labels`` more answers take, from the measured lead times."""
    lt = np.asarray([x for x in lead_times_s if x is not None and x >= 0], dtype=float)
    basis = f"{len(lt)} measured lead times"
    if len(lt) < 10:
        return Forecast(None, "hours", basis, "needs at least 10 measured lead times")
    means = rng.choice(lt, size=(n_boot, len(lt)), replace=True).mean(axis=1)
    return Forecast(_interval(labels * means / 3600.0), "hours", basis, extra={"labels": labels})


def _power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def fit_learning_curve(labels: Sequence[float], accuracy: Sequence[float]) -> tuple[float, float, float] | None:
    """``(a, b, c)`` of ``acc(n) = a − b n^(−c)``, or None when the fit fails."""
    from scipy.optimize import curve_fit

    x, y = np.asarray(labels, dtype=float), np.asarray(accuracy, dtype=float)
    try:
        params, _ = curve_fit(
            _power_law, x, y, p0=(min(1.0, y.max() + 0.05), 1.0, 0.5), bounds=([0, 0, 0.01], [1.0, 1e4, 3.0]),
            maxfev=20000,
        )  # fmt: skip
    except (RuntimeError, ValueError):
        return None
    return float(params[0]), float(params[1]), float(params[2])


def labels_needed(params: tuple[float, float, float], target: float) -> float | None:
    a, b, c = params
    if target >= a or b <= 0:
        return None
    return float(((a - target) / b) ** (-1.0 / c))


def labels_for_accuracy(
    labels: Sequence[float], accuracy: Sequence[float], target: float, *, rng: np.random.Generator, n_boot: int = 300
) -> Forecast:
    """Labels needed to reach ``target`` accuracy, by extrapolating the learning curve (see the module docstring)."""
    basis = f"{len(labels)} model versions"
    if len(labels) < MIN_CURVE_POINTS:
        return Forecast(None, "labels", basis, f"needs at least {MIN_CURVE_POINTS} (labels, accuracy) points")
    x, y = np.asarray(labels, dtype=float), np.asarray(accuracy, dtype=float)
    params = fit_learning_curve(x, y)
    if params is None:
        return Forecast(None, "labels", basis, "the power-law fit did not converge")
    point = labels_needed(params, target)
    samples = []
    for _ in range(n_boot):
        idx = rng.choice(len(x), size=len(x), replace=True)
        if len(np.unique(x[idx])) < 3:
            continue
        p = fit_learning_curve(x[idx], y[idx])
        n = labels_needed(p, target) if p is not None else None
        samples.append(np.inf if n is None else n)
    extra = {"asymptote": params[0], "b": params[1], "c": params[2], "point_estimate": point}
    if not samples:
        return Forecast(None, "labels", basis, "bootstrap fits failed", extra)
    arr = np.asarray(samples)
    reachable = float(np.isfinite(arr).mean())
    extra["share_of_fits_reaching_target"] = reachable
    if point is None:
        return Forecast(None, "labels", basis, f"target {target} is above the fitted asymptote {params[0]:.4f}", extra)
    interval = _interval(arr)
    if not np.isfinite(interval.p50):
        return Forecast(None, "labels", basis, "most resampled fits never reach the target", extra)
    note = None if np.isfinite(interval.p90) else "the upper bound is open: some resampled fits never reach the target"
    return Forecast(interval, "labels", basis, note, extra)


def forecast_from_ops(
    ops: dict[str, Any],
    model_points: Sequence[tuple[float, float]],
    *,
    target_labels: int | None = None,
    target_accuracy: float | None = None,
    seed: int = 0,
    lead_times_s: Sequence[float] = (),
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The report's forecast block from :func:`labelloop.engine.metrics.ops.compute_ops` output (``as_dict``)."""
    rng = np.random.default_rng(seed)
    daily = [g["labels"] for _, g in sorted(ops["per_day"].items())]
    backlog = int(ops.get("backlog") or 0)
    out: dict[str, Any] = {"backlog": backlog, "backlog_days": backlog_days(daily, backlog, rng=rng).as_dict()}
    bd = out["backlog_days"]["value"]
    if bd is not None:
        base = today or dt.datetime.now(dt.UTC).date()
        out["backlog_done_by"] = {k: (base + dt.timedelta(days=float(np.ceil(v)))).isoformat() for k, v in bd.items()}
    # Team capacity from each annotator's measured pace while active: the hours of joint work the backlog needs.
    paces = {a: g.get("labels_per_active_hour") for a, g in ops.get("per_annotator", {}).items()}
    measured = {a: p for a, p in paces.items() if p}
    out["per_annotator_labels_per_active_hour"] = measured
    if measured:
        capacity = float(sum(measured.values()))
        out["team_labels_per_active_hour"] = capacity
        out["team_active_hours_for_backlog"] = backlog / capacity if backlog else 0.0
    n = target_labels if target_labels is not None else backlog
    out["hours_for_labels"] = annotator_hours(lead_times_s, n, rng=rng).as_dict()
    if target_accuracy is not None and model_points:
        xs, ys = zip(*model_points, strict=True)
        need = labels_for_accuracy(xs, ys, target_accuracy, rng=rng)
        out["labels_for_accuracy"] = {"target": target_accuracy, **need.as_dict()}
    return out
