"""Registry of exporters by name: ``@register("csv")`` on a writer class, ``get_exporter("csv")`` to use one.

A duplicate name raises; an unknown name lists the known ones. An exporter writes one Arrow table to one path,
a file or (``writes_folder``) a folder, and knows nothing of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

import pyarrow as pa


class Exporter(Protocol):
    name: ClassVar[str]
    writes_folder: ClassVar[bool]

    def write(self, table: pa.Table, path: Path, *, fingerprint: str) -> None:
        """Write ``table`` to ``path`` (not existing yet). ``fingerprint`` names the content, for formats that
        store one (so the same version exported twice gives the same bytes)."""
        ...


E = TypeVar("E", bound=type)

_EXPORTERS: dict[str, type] = {}


class UnknownExporterError(KeyError):
    """No exporter registered under that name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def register(name: str) -> Callable[[E], E]:
    """Class decorator: make the exporter available as ``name``. Raises ``ValueError`` on a duplicate name."""

    def decorator(cls: E) -> E:
        if name in _EXPORTERS:
            raise ValueError(f"exporter name {name!r} is already registered to {_EXPORTERS[name].__qualname__}")
        cls.name = name  # type: ignore[attr-defined]
        _EXPORTERS[name] = cls
        return cls

    return decorator


def available_exporters() -> list[str]:
    """Registered names, sorted."""
    _ensure_builtin()
    return sorted(_EXPORTERS)


def get_exporter(name: str) -> Exporter:
    """A new exporter registered as ``name``; :class:`UnknownExporterError` lists the known names otherwise."""
    _ensure_builtin()
    try:
        return _EXPORTERS[name]()  # type: ignore[no-any-return]
    except KeyError:
        raise UnknownExporterError(
            f"unknown export format {name!r}; known formats: {', '.join(sorted(_EXPORTERS))}"
        ) from None


def _ensure_builtin() -> None:
    """Import the built-in exporters so their ``@register`` lines have run (import is idempotent)."""
    import labelloop.connectors.exports.formats  # noqa: F401
