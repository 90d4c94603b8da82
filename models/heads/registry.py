"""Registry of heads by name: ``@register("logreg")`` on a class, ``make_head("logreg", C=0.5)`` to build one.

A duplicate name raises; an unknown name lists the known ones. The registry holds classes only, never fitted models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sklearn.base import BaseEstimator

T = TypeVar("T", bound=type[BaseEstimator])

_HEADS: dict[str, type[BaseEstimator]] = {}


class UnknownHeadError(KeyError):
    """No head registered under that name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the head available as ``name``. Raises ``ValueError`` on a duplicate name."""

    def decorator(cls: T) -> T:
        if name in _HEADS:
            raise ValueError(f"head name {name!r} is already registered to {_HEADS[name].__qualname__}")
        _HEADS[name] = cls
        return cls

    return decorator


def available_heads() -> list[str]:
    """Registered names, sorted."""
    _ensure_builtin()
    return sorted(_HEADS)


def get_head_class(name: str) -> type[BaseEstimator]:
    """The class registered as ``name``; :class:`UnknownHeadError` lists the known names otherwise."""
    _ensure_builtin()
    try:
        return _HEADS[name]
    except KeyError:
        raise UnknownHeadError(f"unknown head {name!r}; known heads: {', '.join(sorted(_HEADS))}") from None


def make_head(name: str, **params: object) -> BaseEstimator:
    """An unfitted head: ``make_head("mlp", hidden=128, random_state=0)``."""
    return get_head_class(name)(**params)


def _ensure_builtin() -> None:
    """Import the built-in heads so their ``@register`` lines have run (import is idempotent)."""
    import labelloop.models.heads.committee
    import labelloop.models.heads.graph_logreg
    import labelloop.models.heads.logreg
    import labelloop.models.heads.mlp  # noqa: F401


def fit_head(head: BaseEstimator, X: Any, y: Any, *, X_unlabeled: Any = None) -> BaseEstimator:
    """``head.fit(X, y)``, handing the unlabeled pool to heads that declare ``uses_unlabeled`` (graph-logreg)."""
    if getattr(head, "uses_unlabeled", False) and X_unlabeled is not None:
        return head.fit(X, y, X_unlabeled=X_unlabeled)
    return head.fit(X, y)


def uses_unlabeled(name: str) -> bool:
    """Whether the head registered as ``name`` learns from the unlabeled pool (so callers embed it)."""
    return bool(getattr(get_head_class(name), "uses_unlabeled", False))
