"""Strategy protocol, registry, shared top-n selector and typed errors.

When to use what:

* :class:`StrategyInputs` carries the model outputs of one round. The loop fills only the fields a strategy
  declares in :attr:`Strategy.requires` (vocabulary: :data:`REQUIRES_VOCABULARY`) and never branches on a
  strategy's class.
* :meth:`Strategy.query` is the one entry point: it validates the pool, calls the strategy and checks the picks.
  Every index, in and out, is a *position in the pool arrays* (row of ``proba``, ``embeddings``, ...).
* :class:`ScoreStrategy` is the base for strategies that rank items by an informativeness score (higher first);
  they share :func:`select_top`, which breaks ties with the round's generator rather than by position.
* :func:`register`, :func:`make_strategy`, :func:`strategy_from_config`, :func:`available_strategies` are the
  registry; a config is ``{"name": ..., "params": {...}}`` and ``get_params()`` round-trips through it.

Behaviour when more items are requested than the pool holds: :class:`PoolExhaustedError`
("pool exhausted: 37 unlabeled / 50 requested"); a strategy never returns fewer picks than requested and never
pads with anything. ``n == 0`` returns an empty array.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Names a strategy may put in ``requires``, with the array each one names (n = items in the pool arrays).
REQUIRES_VOCABULARY: Mapping[str, str] = {
    "proba": "(n, k) class probabilities of the current model",
    "proba_samples": "(n, k, T) class probabilities from T stochastic (MC-dropout) forward passes",
    "committee_proba": "(m, n, k) class probabilities from each of m committee members",
    "embeddings": "(n, d) item embeddings (for BADGE: the features the last linear layer sees)",
    "grad_embeddings": "(n, D) last-layer gradient embeddings, when the head computes them itself",
    "labels": "(n,) int class index at labeled positions (aligned with proba columns); other entries ignored",
}

_PROBA_ATOL = 1e-3


# --------------------------------------------------------------------------------------------------- errors
class StrategyError(Exception):
    """Base class of every error raised by the strategies package."""


class PoolExhaustedError(StrategyError):
    """More items were requested than the (unlabeled) pool holds."""

    def __init__(self, n_unlabeled: int, n_requested: int, detail: str = "") -> None:
        self.n_unlabeled = n_unlabeled
        self.n_requested = n_requested
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"pool exhausted: {n_unlabeled} unlabeled / {n_requested} requested{suffix}")


class InvalidPoolError(StrategyError, ValueError):
    """The index arrays are malformed: out of range, duplicated, overlapping or not 1-D integers."""


class InvalidInputError(StrategyError, ValueError):
    """A model-output array has the wrong shape, is not finite, or is not a probability distribution."""


class MissingInputError(StrategyError):
    """The round did not provide an input the strategy declared in ``requires``."""


class NonFiniteScoresError(StrategyError):
    """A strategy produced NaN or infinite scores; never replaced by a constant."""


class StrategyConfigError(StrategyError, ValueError):
    """A strategy name or parameter in a config is invalid."""


class UnknownStrategyError(StrategyConfigError):
    """No strategy is registered under the requested name."""


class DuplicateStrategyError(StrategyError):
    """A second strategy was registered under an existing name."""


# --------------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class StrategyInputs:
    """Model outputs for the items of one pool; every array's first item axis has the same length ``n``.

    Construct it with only the fields the strategy requires. Arrays are validated once here (shapes agree,
    values finite, probabilities non-negative with rows summing to 1 within 1e-3), so strategies can trust them.
    """

    proba: NDArray[np.floating] | None = None
    proba_samples: NDArray[np.floating] | None = None
    committee_proba: NDArray[np.floating] | None = None
    embeddings: NDArray[np.floating] | None = None
    grad_embeddings: NDArray[np.floating] | None = None
    labels: NDArray[np.integer] | None = None
    #: Number of pool items; needed only when no array is given (``random``), checked against arrays otherwise.
    pool_size: int | None = None

    def __post_init__(self) -> None:
        sizes: dict[str, int] = {}
        ndims = {"proba": 2, "proba_samples": 3, "committee_proba": 3, "embeddings": 2, "grad_embeddings": 2,
                 "labels": 1}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "pool_size":
                ok = value is None or (isinstance(value, int | np.integer) and not isinstance(value, bool)
                                       and value >= 0)
                if not ok:
                    raise InvalidInputError(f"pool_size must be an int >= 0, got {value!r}")
                if value is not None:
                    sizes["pool_size"] = int(value)
                continue
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                raise InvalidInputError(f"input '{f.name}' must be a numpy array, got {type(value).__name__}")
            if value.ndim != ndims[f.name]:
                shape = REQUIRES_VOCABULARY[f.name].split(")")[0] + ")"
                raise InvalidInputError(f"input '{f.name}' must have shape {shape}, got shape {value.shape}")
            sizes[f.name] = value.shape[1] if f.name == "committee_proba" else value.shape[0]
            if f.name == "labels":
                if not np.issubdtype(value.dtype, np.integer):
                    raise InvalidInputError(f"input 'labels' must hold integers, got dtype {value.dtype}")
                continue
            if not np.issubdtype(value.dtype, np.floating):
                raise InvalidInputError(f"input '{f.name}' must hold floats, got dtype {value.dtype}")
            n_bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            if n_bad:
                raise InvalidInputError(f"input '{f.name}' has {n_bad} non-finite values of {value.size}")
            if "proba" in f.name:
                _check_distribution(f.name, value, axis=1 if f.name != "committee_proba" else 2)
        if len(set(sizes.values())) > 1:
            raise InvalidInputError(f"inputs disagree on the number of items: {sizes}")

    @property
    def n_items(self) -> int:
        """Number of items in the pool arrays (``pool_size``, else the arrays' item axis, else 0)."""
        if self.pool_size is not None:
            return int(self.pool_size)
        for name in ("proba", "proba_samples", "embeddings", "grad_embeddings", "labels"):
            value = getattr(self, name)
            if value is not None:
                return int(value.shape[0])
        if self.committee_proba is not None:
            return int(self.committee_proba.shape[1])
        return 0

    def get(self, name: str) -> NDArray[Any]:
        """The array called ``name``; :class:`MissingInputError` if the round did not provide it."""
        if name not in REQUIRES_VOCABULARY:
            raise MissingInputError(f"unknown input '{name}'; known: {sorted(REQUIRES_VOCABULARY)}")
        value = getattr(self, name)
        if value is None:
            raise MissingInputError(f"input '{name}' ({REQUIRES_VOCABULARY[name]}) was not provided")
        return value


def _check_distribution(name: str, value: NDArray[np.floating], axis: int) -> None:
    if value.size == 0:
        return
    if float(value.min()) < 0.0:
        raise InvalidInputError(f"input '{name}' has negative probabilities (min {float(value.min()):.3g})")
    err = np.abs(value.sum(axis=axis, dtype=np.float64) - 1.0)
    n_bad = int(np.count_nonzero(err > _PROBA_ATOL))
    if n_bad:
        raise InvalidInputError(
            f"input '{name}': {n_bad} distributions do not sum to 1 along axis {axis} (max error {err.max():.3g})"
        )


# ------------------------------------------------------------------------------------------------- selector
def select_top(scores: NDArray[np.floating], n: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Positions of the ``n`` highest ``scores``, highest first; equal scores are ordered by ``rng``.

    ``scores``: (m,) float; the returned positions index ``scores`` (not the pool). Ties are broken by a random
    key drawn from ``rng`` for every element, so the result depends on the seed, never on an item's position.
    Raises :class:`NonFiniteScoresError` on NaN/inf and :class:`PoolExhaustedError` when ``n > m``.
    """
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise InvalidInputError(f"scores must be 1-D, got shape {scores.shape}")
    n_bad = int(scores.size - np.count_nonzero(np.isfinite(scores)))
    if n_bad:
        raise NonFiniteScoresError(f"{n_bad} non-finite scores of {scores.size}")
    if n > scores.size:
        raise PoolExhaustedError(scores.size, n)
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    keys = rng.random(scores.size)
    order = np.lexsort((keys, -scores.astype(np.float64, copy=False)))
    return order[:n].astype(np.intp, copy=False)


def argmax_random_tie(values: NDArray[np.floating], rng: np.random.Generator) -> int:
    """Position of the maximum of ``values`` (1-D); among equal maxima one is drawn with ``rng``."""
    top = np.flatnonzero(values == values.max())
    if top.size == 1:
        return int(top[0])
    return int(top[rng.integers(top.size)])


# ----------------------------------------------------------------------------------------------- parameters
def check_param(strategy: str, param: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise :class:`StrategyConfigError` in the one house format unless ``ok``."""
    if not ok:
        raise StrategyConfigError(
            f"The '{param}' parameter of strategy '{strategy}' must be {allowed}. Got {value!r} instead."
        )


def check_int(strategy: str, param: str, value: Any, *, low: int) -> int:
    """An int (not bool) ``>= low``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low
    check_param(strategy, param, value, ok, f"an int >= {low}")
    return int(value)


def check_float(strategy: str, param: str, value: Any, *, low: float, low_inclusive: bool = True) -> float:
    """A real number ``>= low`` (or ``> low``)."""
    is_num = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = is_num and np.isfinite(value) and (value >= low if low_inclusive else value > low)
    check_param(strategy, param, value, ok, f"a finite number {'>=' if low_inclusive else '>'} {low}")
    return float(value)


def check_choice(strategy: str, param: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    check_param(strategy, param, value, value in choices, f"one of {list(choices)}")
    return str(value)


def check_bool(strategy: str, param: str, value: Any) -> bool:
    check_param(strategy, param, value, isinstance(value, bool), "a bool")
    return bool(value)


# ------------------------------------------------------------------------------------------------- protocol
class Strategy:
    """A query strategy: configuration in ``__init__`` (keyword-only), a pure :meth:`query`.

    Subclasses set :attr:`requires` (or override the property) and implement :meth:`_query`. They store each
    constructor parameter under the same attribute name, so :meth:`get_params` can read it back.
    """

    name: ClassVar[str] = ""
    #: Inputs the loop must provide, a subset of :data:`REQUIRES_VOCABULARY` keys.
    required_inputs: ClassVar[frozenset[str]] = frozenset()

    @property
    def requires(self) -> frozenset[str]:
        """Inputs this configured strategy needs; may depend on parameters (BADGE, wrappers)."""
        return self.required_inputs

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-friendly: ``make_strategy(self.name, **self.get_params())`` rebuilds it."""
        out: dict[str, Any] = {}
        for pname in _init_params(type(self)):
            value = getattr(self, pname)
            out[pname] = value.to_config() if isinstance(value, Strategy) else value
        return out

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``, the form :func:`strategy_from_config` reads."""
        return {"name": self.name, "params": self.get_params()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.integer],
        indices_labeled: NDArray[np.integer],
        n: int,
        *,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        """Choose ``n`` items to label.

        Args:
            inputs: model outputs for all ``n_items`` pool items; only ``self.requires`` need be set.
            indices_unlabeled: (u,) positions in the pool arrays that may be picked.
            indices_labeled: (l,) positions already labeled (used as existing centres, class counts, ...).
            n: number of picks, ``0 <= n <= u``.
            rng: the round's generator; the only source of randomness.

        Returns:
            (n,) int positions in the pool arrays, unique, all from ``indices_unlabeled``, in the strategy's
            priority order (first = most wanted).

        Raises:
            PoolExhaustedError: ``n > u`` (including an empty pool with ``n >= 1``).
            InvalidPoolError, MissingInputError: malformed indices; a required input is absent.
        """
        unl, lab = _check_pool(inputs, indices_unlabeled, indices_labeled, n)
        for req in sorted(self.requires):
            inputs.get(req)
        if not isinstance(rng, np.random.Generator):
            raise StrategyError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if n == 0:
            return np.empty(0, dtype=np.intp)
        picks = np.asarray(self._query(inputs, unl, lab, n, rng), dtype=np.intp)
        _check_picks(self.name, picks, unl, n)
        logger.debug("strategy=%s n=%d unlabeled=%d labeled=%d", self.name, n, unl.size, lab.size)
        return picks

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        raise NotImplementedError


class ScoreStrategy(Strategy):
    """A strategy that ranks items by a score (higher = label first) and takes the top ``n``."""

    def score(self, inputs: StrategyInputs, indices: NDArray[np.integer]) -> NDArray[np.float64]:
        """(len(indices),) informativeness of the items at pool positions ``indices``; row-wise, so scoring
        in chunks equals scoring at once."""
        for req in sorted(self.requires):
            inputs.get(req)
        scores = np.asarray(self._score(inputs, np.asarray(indices, dtype=np.intp)), dtype=np.float64)
        n_bad = int(scores.size - np.count_nonzero(np.isfinite(scores)))
        if n_bad:
            raise NonFiniteScoresError(f"strategy '{self.name}' produced {n_bad} non-finite scores of {scores.size}")
        return scores

    def _score(self, inputs: StrategyInputs, indices: NDArray[np.intp]) -> NDArray[np.float64]:
        raise NotImplementedError

    def _query(
        self,
        inputs: StrategyInputs,
        indices_unlabeled: NDArray[np.intp],
        indices_labeled: NDArray[np.intp],
        n: int,
        rng: np.random.Generator,
    ) -> NDArray[np.intp]:
        return indices_unlabeled[select_top(self.score(inputs, indices_unlabeled), n, rng)]


def _as_index_array(name: str, values: NDArray[np.integer], n_items: int) -> NDArray[np.intp]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidPoolError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidPoolError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.intp, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_items:
            raise InvalidPoolError(f"{name} out of range [0, {n_items}): min {lo}, max {hi}")
        n_dup = arr.size - np.unique(arr).size
        if n_dup:
            raise InvalidPoolError(f"{name} holds {n_dup} duplicate positions")
    return arr


def _check_pool(
    inputs: StrategyInputs, unlabeled: NDArray[np.integer], labeled: NDArray[np.integer], n: int
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    if not isinstance(inputs, StrategyInputs):
        raise StrategyError(f"inputs must be StrategyInputs, got {type(inputs).__name__}")
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise StrategyError(f"n must be an int >= 0, got {n!r}")
    n_items = inputs.n_items
    unl = _as_index_array("indices_unlabeled", unlabeled, n_items)
    lab = _as_index_array("indices_labeled", labeled, n_items)
    if unl.size and lab.size:
        n_both = int(np.intersect1d(unl, lab, assume_unique=True).size)
        if n_both:
            raise InvalidPoolError(f"{n_both} positions are both labeled and unlabeled")
    if n > unl.size:
        raise PoolExhaustedError(int(unl.size), int(n))
    return unl, lab


def _check_picks(name: str, picks: NDArray[np.intp], unlabeled: NDArray[np.intp], n: int) -> None:
    if picks.shape != (n,):
        raise StrategyError(f"strategy '{name}' returned shape {picks.shape}, expected ({n},)")
    if np.unique(picks).size != n:
        raise StrategyError(f"strategy '{name}' returned duplicate picks")
    if not np.isin(picks, unlabeled).all():
        raise StrategyError(f"strategy '{name}' returned positions outside indices_unlabeled")


# ------------------------------------------------------------------------------------------------- registry
S = TypeVar("S", bound=type[Strategy])


class StrategyRegistry:
    """Name → strategy class. One instance, :data:`STRATEGIES`; names are unique."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Strategy]] = {}

    def register(self, name: str) -> Callable[[S], S]:
        def decorator(cls: S) -> S:
            if name in self._classes:
                raise DuplicateStrategyError(
                    f"strategy name '{name}' is already registered to {self._classes[name].__qualname__}"
                )
            if not (isinstance(cls, type) and issubclass(cls, Strategy)):
                raise StrategyError(f"@register('{name}') must decorate a Strategy subclass, got {cls!r}")
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorator

    def names(self) -> list[str]:
        return sorted(self._classes)

    def get(self, name: str) -> type[Strategy]:
        try:
            return self._classes[name]
        except KeyError:
            raise UnknownStrategyError(
                f"unknown strategy {name!r}; known strategies: {', '.join(self.names())}"
            ) from None

    def make(self, name: str, **params: Any) -> Strategy:
        cls = self.get(name)
        allowed = _init_params(cls)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise StrategyConfigError(
                f"unknown parameter(s) {unknown} for strategy '{name}'; allowed: {list(allowed) or 'none'}"
            )
        strategy = cls(**params)
        bad = sorted(strategy.requires - set(REQUIRES_VOCABULARY))
        if bad:
            raise StrategyError(f"strategy '{name}' requires unknown inputs {bad}")
        return strategy


def _init_params(cls: type[Strategy]) -> tuple[str, ...]:
    sig = inspect.signature(cls.__init__)
    return tuple(p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY)


#: The strategy registry (filled when :mod:`labelloop.strategies` is imported).
STRATEGIES = StrategyRegistry()


def register(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`Strategy` under ``name``; a duplicate name raises."""
    return STRATEGIES.register(name)


def available_strategies() -> list[str]:
    """Registered names, sorted."""
    return STRATEGIES.names()


def make_strategy(name: str, **params: Any) -> Strategy:
    """Build a registered strategy from keyword params; unknown names and bad params raise
    :class:`StrategyConfigError` naming them and what is allowed."""
    return STRATEGIES.make(name, **params)


def strategy_from_config(config: Mapping[str, Any] | Strategy, *, key_path: str = "strategy") -> Strategy:
    """Build from ``{"name": str, "params": {...}}`` (params optional); a :class:`Strategy` passes through.

    ``key_path`` prefixes error messages (e.g. ``"strategy.params.base"``) so nested configs name where they
    failed.
    """
    if isinstance(config, Strategy):
        return config
    if not isinstance(config, Mapping):
        raise StrategyConfigError(f"{key_path} must be a mapping with 'name' and 'params', got {config!r}")
    extra = sorted(set(config) - {"name", "params"})
    if extra or "name" not in config:
        raise StrategyConfigError(
            f"{key_path} must have keys 'name' (required) and 'params' (optional); got {sorted(config)}"
        )
    params = config.get("params") or {}
    if not isinstance(params, Mapping):
        raise StrategyConfigError(f"{key_path}.params must be a mapping, got {params!r}")
    try:
        return make_strategy(str(config["name"]), **dict(params))
    except StrategyConfigError as exc:
        raise type(exc)(f"{key_path}: {exc}") from None
