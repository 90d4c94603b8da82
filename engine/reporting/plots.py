"""Matplotlib figures for the report, returned as PNG bytes (the report embeds them, so it opens without a server).

The Agg backend is forced: reports are written by schedulers on machines without a display.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def learning_curve(labels: Sequence[int], accuracy: Sequence[float], versions: Sequence[str]) -> bytes:
    """Evaluation accuracy of each model version against the labels it was trained on."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.plot(labels, accuracy, marker="o")
    for x, y, v in zip(labels, accuracy, versions, strict=True):
        ax.annotate(v[:11], (x, y), textcoords="offset points", xytext=(4, -12), fontsize=7)
    ax.set_xlabel("labels trained on")
    ax.set_ylabel("accuracy (evaluation split)")
    ax.set_title("Learning curve across rounds")
    ax.grid(alpha=0.3)
    return _png(fig)


def confusion(matrix: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(int(v)), ha="center", va="center", color="white" if v > top / 2 else "black", fontsize=8)
    ax.set_title(title)
    return _png(fig)


def bars(values: Mapping[str, float], title: str, ylabel: str, *, ylim: tuple[float, float] | None = None) -> bytes:
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), [n[:28] for n in names], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def series(xs: Sequence[str], ys: Mapping[str, Sequence[float | None]], title: str, ylabel: str) -> bytes:
    """One line per key over the same x axis (e.g. days); ``None`` leaves a gap."""
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    for name, values in ys.items():
        ax.plot(xs, [np.nan if v is None else v for v in values], marker="o", label=name)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(ys) > 1:
        ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=20, labelsize=8)
    return _png(fig)
