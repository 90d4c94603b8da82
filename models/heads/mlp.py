"""A small torch MLP head with Monte-Carlo dropout, for strategies that need stochastic passes (BALD, variation ratio).

Use :meth:`MLPHead.predict_proba` for plain predictions (dropout off) and :meth:`MLPHead.predict_proba_samples` for
``T`` stochastic passes ``(n, k, T)`` with dropout on. Everything is seeded from ``random_state`` inside
``torch.random.fork_rng``, so the same data and seed give the same weights and the same samples, and the caller's
global torch RNG is left untouched. torch is imported when a model is fitted or used, not at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from labelloop.models.heads.registry import register


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (process-wide, restored on exit)."""
    import torch

    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build(n_in: int, hidden: int, n_out: int, dropout: float) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, n_out),
    )


@register("mlp")
class MLPHead(ClassifierMixin, BaseEstimator):
    """One hidden layer (ReLU, dropout) trained with Adam on cross-entropy; inputs standardised with train statistics.

    Parameters: ``hidden`` units; ``dropout`` probability (used in training and in MC sampling); ``epochs``;
    ``batch_size``; ``lr``; ``weight_decay``; ``random_state`` (int; same seed, same model and samples);
    ``n_threads`` torch threads while fitting/predicting (restored afterwards; 1 is fastest for a network this
    small, None keeps the process setting).
    Fitted: ``classes_`` (k,), ``n_features_in_``, ``mean_``/``scale_`` (d,), ``module_`` (the torch network),
    ``loss_curve_`` (epochs,).
    """

    def __init__(
        self,
        hidden: int = 256,
        dropout: float = 0.2,
        epochs: int = 60,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.n_threads = n_threads

    def _validate_params_values(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"The 'dropout' parameter of MLPHead must be in [0, 1). Got {self.dropout!r} instead.")
        for name in ("hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"The {name!r} parameter of MLPHead must be an int >= 1. Got {value!r} instead.")

    def fit(self, X: ArrayLike, y: ArrayLike) -> MLPHead:
        """``X`` ``(n, d)``, ``y`` ``(n,)``; needs at least two classes."""
        import torch

        self._validate_params_values()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"MLPHead needs samples of at least 2 classes; got 1 class ({classes[0]!r})")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12] = 1.0
        xt = torch.from_numpy(((X - mean) / scale).astype(np.float32))
        yt = torch.from_numpy(y_idx.astype(np.int64))
        n = len(xt)
        losses = []
        with _threads(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            module = _build(X.shape[1], int(self.hidden), len(classes), float(self.dropout))
            opt = torch.optim.Adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            gen = torch.Generator().manual_seed(int(self.random_state))
            module.train()
            for _ in range(int(self.epochs)):
                perm = torch.randperm(n, generator=gen)
                total = 0.0
                for start in range(0, n, int(self.batch_size)):
                    idx = perm[start : start + int(self.batch_size)]
                    opt.zero_grad()
                    loss = torch.nn.functional.cross_entropy(module(xt[idx]), yt[idx])
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                losses.append(total / n)
        module.eval()
        self.classes_ = classes
        self.mean_ = mean
        self.scale_ = scale
        self.module_ = module
        self.loss_curve_ = np.asarray(losses)
        return self

    def _inputs(self, X: ArrayLike) -> Any:
        import torch

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return torch.from_numpy(((X - self.mean_) / self.scale_).astype(np.float32))

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Probabilities ``(n, k)`` with dropout off (columns in ``classes_`` order)."""
        import torch

        xt = self._inputs(X)
        self.module_.eval()
        with _threads(self.n_threads), torch.inference_mode():
            logits = self.module_(xt).double()
        return torch.softmax(logits, dim=1).numpy()

    def predict_proba_samples(
        self, X: ArrayLike, n_samples: int = 20, *, random_state: int | None = None
    ) -> NDArray[np.float64]:
        """MC-dropout probabilities ``(n, k, n_samples)``: ``n_samples`` passes with dropout on.

        Seeded by ``random_state`` (default: the head's own), so repeated calls give the same array.
        """
        import torch

        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1; got {n_samples}")
        xt = self._inputs(X)
        seed = int(self.random_state if random_state is None else random_state)
        out = np.empty((len(xt), len(self.classes_), n_samples), dtype=np.float64)
        with _threads(self.n_threads), torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            self.module_.train()
            try:
                for t in range(n_samples):
                    out[:, :, t] = torch.softmax(self.module_(xt).double(), dim=1).numpy()
            finally:
                self.module_.eval()
        return out

    def predict(self, X: ArrayLike) -> NDArray:
        """Most probable class per row ``(n,)``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
