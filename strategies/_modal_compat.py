"""Run modAL-python 0.4.2.1 learners on scikit-learn ≥ 1.8.

modAL's ``ActiveLearner`` / ``Committee`` call ``sklearn.utils.check_X_y(..., force_all_finite=...)``; the keyword
was renamed ``ensure_all_finite`` in scikit-learn 1.6 and removed in 1.8, so ``teach()`` raises ``TypeError``
(construction with training data still works: it fits without that check). :func:`modal_sklearn_compat` maps
the old keyword to the new one inside modAL's learners module for the duration of a ``with`` block and restores
the original on exit (no lasting patch, no import-time side effect). Our strategies do not need modAL at run
time; the tests use this to compare our measures with modAL's on a real committee.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def translate_force_all_finite(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a scikit-learn validator so a ``force_all_finite=`` keyword reaches it as ``ensure_all_finite=``.

    Returns ``fn`` unchanged when it still accepts ``force_all_finite`` (scikit-learn < 1.8).
    """
    if "force_all_finite" in inspect.signature(fn).parameters:
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "force_all_finite" in kwargs:
            value = kwargs.pop("force_all_finite")
            if "ensure_all_finite" in kwargs:
                raise TypeError("pass either force_all_finite or ensure_all_finite, not both")
            kwargs["ensure_all_finite"] = value
        return fn(*args, **kwargs)

    return wrapper


@contextmanager
def modal_sklearn_compat() -> Iterator[None]:
    """Inside the block, modAL's learners validate input with the keyword the installed scikit-learn knows."""
    import modAL.models.learners as learners

    original = learners.check_X_y
    learners.check_X_y = translate_force_all_finite(original)
    try:
        yield
    finally:
        learners.check_X_y = original
