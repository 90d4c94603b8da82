"""What every ``labelloop`` command shares: consoles, option types, JSON/table output, and the mapping of engine
exceptions onto exit codes. Command modules (main, quality, dataset, ...) import from here."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

import labelloop
from labelloop.connectors.labelstudio.errors import LabelStudioAuthError, LabelStudioUnavailable, PortInUseError
from labelloop.connectors.sources import SourceError
from labelloop.engine.config import ConfigError
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.quality.gates import GateBlocked
from labelloop.engine.rounds.budget import BudgetExhausted
from labelloop.engine.rounds.select import NothingToSelect
from labelloop.engine.scheduling.lock import LockHeld
from labelloop.engine.store import StoreUnavailable
from labelloop.engine.training import NotEnoughLabels

out = Console()
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("labelloop.cli")

PACKAGE_DIR = Path(labelloop.__file__).resolve().parent
DEFAULT_CONFIG = Path("labelloop.yaml")
DEMO_CONFIG = PACKAGE_DIR / "configs" / "demo.yaml"

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Project config (YAML).")]
WorkdirOpt = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="Folder for the store, keys and caches (default ./.labelloop).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines instead of tables.")]

F = TypeVar("F", bound=Callable[..., Any])


def _fail(code: ExitCode, message: str) -> typer.Exit:
    err.print(f"[bold red]error[/]: {message}", highlight=False, markup=True)
    return typer.Exit(int(code))


# Engine exceptions → exit codes, first match wins (order matters only for subclasses).
ERROR_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ConfigError, ExitCode.BAD_INPUT),
    (SourceError, ExitCode.BAD_INPUT),
    (PortInUseError, ExitCode.BAD_INPUT),
    (StoreUnavailable, ExitCode.STORE_UNAVAILABLE),
    (NotEnoughLabels, ExitCode.NOT_ENOUGH_LABELS),
    (GateBlocked, ExitCode.GATE_BLOCKED),
    (LockHeld, ExitCode.LOCK_HELD),
    (NothingToSelect, ExitCode.NOTHING_TO_DO),
    (BudgetExhausted, ExitCode.BUDGET_EXHAUSTED),
    (LabelStudioAuthError, ExitCode.AUTH_FAILED),
    (LabelStudioUnavailable, ExitCode.SERVICE_UNREACHABLE),
    (KeyError, ExitCode.BAD_INPUT),
)


def handle_errors(fn: F) -> F:
    """Map the engine's exceptions onto exit codes with one clear message each; anything else is a bug (exit 1,
    with its traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise _fail(ExitCode.INTERNAL_ERROR, "interrupted") from None
        except Exception as e:
            for exc_type, code in ERROR_EXIT_CODES:
                if isinstance(e, exc_type):
                    message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
                    raise _fail(code, message) from None
            raise

    return wrapper  # type: ignore[return-value]


def _emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, sort_keys=True) + "\n")
    else:
        render(data)
