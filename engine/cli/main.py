"""The ``labelloop`` command: thin Typer commands over :mod:`labelloop.engine.api`.

Each command prints a human table, or one JSON object with ``--json``; logs go to stderr. Exit codes are
:class:`labelloop.engine.exit_codes.ExitCode` (documented in the README).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import labelloop
from labelloop.connectors.sources import SourceError
from labelloop.engine.api import Project
from labelloop.engine.config import ConfigError
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.ingest import IngestSummary
from labelloop.engine.store import StoreUnavailable
from labelloop.engine.training import NotEnoughLabels

app = typer.Typer(
    name="labelloop",
    help="Active-learning, model-assisted labeling: ingest, pre-label, select, push to Label Studio, pull, retrain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("labelloop.cli")

PACKAGE_DIR = Path(labelloop.__file__).resolve().parent
DEFAULT_CONFIG = Path("labelloop.yaml")
DEMO_CONFIG = PACKAGE_DIR / "configs" / "trec.yaml"

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Project config (YAML).")]
WorkdirOpt = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="Folder for the store, keys and caches (default ./.labelloop).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines instead of tables.")]

F = TypeVar("F", bound=Callable[..., Any])


def _fail(code: ExitCode, message: str) -> typer.Exit:
    err.print(f"[bold red]error[/]: {message}", highlight=False, markup=True)
    return typer.Exit(int(code))


def handle_errors(fn: F) -> F:
    """Map the engine's exceptions onto exit codes with one clear message each."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (ConfigError, SourceError) as e:
            raise _fail(ExitCode.BAD_INPUT, str(e)) from None
        except StoreUnavailable as e:
            raise _fail(ExitCode.STORE_UNAVAILABLE, str(e)) from None
        except NotEnoughLabels as e:
            raise _fail(ExitCode.NOT_ENOUGH_LABELS, str(e)) from None
        except KeyError as e:
            raise _fail(ExitCode.BAD_INPUT, str(e.args[0]) if e.args else "unknown key") from None
        except KeyboardInterrupt:
            raise _fail(ExitCode.INTERNAL_ERROR, "interrupted") from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logs on stderr (-v, -vv).")] = 0,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, sort_keys=True) + "\n")
    else:
        render(data)


# ---- init --------------------------------------------------------------------------------------------------------
@app.command()
@handle_errors
def init(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Create (or migrate) the project's store and identity key. Safe to run again."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.init()
    _emit(result.__dict__, as_json, lambda d: out.print(f"initialised [bold]{d['project']}[/] store={d['store_url']}"))


# ---- ingest ------------------------------------------------------------------------------------------------------
def _ingest_table(d: dict[str, Any]) -> None:
    t = Table(title=f"ingest of {Path(d['source']).name}", show_header=False)
    for key in ("rows_read", "items_added", "duplicates", "quarantined", "labels_imported", "rows_per_s", "seconds"):
        t.add_row(key, f"{d[key]:.2f}" if isinstance(d[key], float) else str(d[key]))
    for reason, n in d["quarantine_by_reason"].items():
        t.add_row(f"  quarantined: {reason}", str(n))
    for ent, n in d["redacted_entities"].items():
        t.add_row(f"  redacted: {ent}", str(n))
    out.print(t)


def _run_ingest(project: Project, source: Path | None, as_json: bool) -> IngestSummary:
    if as_json or not err.is_terminal:
        return project.ingest(source)
    columns = (
        TextColumn("ingest"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=None, rows=0)

        def progress(done: int, total: int, rows: int) -> None:
            bar.update(task, completed=done, total=total, rows=rows)

        return project.ingest(source, progress=progress)


def _report_quarantine(project: Project, summary: IngestSummary) -> None:
    rows = project.store.quarantine(source=summary.source)
    for r in rows[:20]:
        err.print(f"  line {r['line']}: {r['reason']}: {r['detail']}", highlight=False, markup=False)
    if len(rows) > 20:
        err.print(f"  ... and {len(rows) - 20} more (labelloop status --json)")


@app.command()
@handle_errors
def ingest(
    source: Annotated[
        Path | None, typer.Argument(help="File to ingest (default: source.path from the config).")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a CSV / JSONL / Parquet file: validate, redact PII, deduplicate, quarantine bad rows."""
    with Project.from_config_file(config, workdir=workdir) as project:
        summary = _run_ingest(project, source, as_json)
        _emit(summary.as_dict(), as_json, _ingest_table)
        if summary.only_bad_rows:
            if summary.rows_read:
                err.print(f"[bold red]error[/]: all {summary.rows_read} rows were quarantined:")
                _report_quarantine(project, summary)
            else:
                err.print(f"[bold red]error[/]: {summary.source} has no rows")
            raise typer.Exit(int(ExitCode.NO_VALID_ROWS))


# ---- models: train, prelabel, list, show ---------------------------------------------------------------------------
def _train_table(d: dict[str, Any]) -> None:
    t = Table(title=f"model version {d['model_version']}", show_header=False)
    for key in ("dataset_version", "created", "serving", "train_items", "calibration_items", "eval_items"):
        t.add_row(key, str(d[key]))
    for key, value in d["metrics"].items():
        t.add_row(f"  {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(t)


@app.command()
@handle_errors
def train(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Fit the head on the current labels (eval split held out), register a model version and serve it."""
    with Project.from_config_file(config, workdir=workdir) as project:
        _emit(project.train().as_dict(), as_json, _train_table)


@app.command()
@handle_errors
def prelabel(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Pre-label every unlabelled item with the serving model (embeds only, and says so, if there is none)."""
    with Project.from_config_file(config, workdir=workdir) as project:
        if as_json or not err.is_terminal:
            result = project.prelabel()
        else:
            with Progress(
                TextColumn("prelabel"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} items"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("prelabel", total=None)
                result = project.prelabel(progress=lambda done, total: bar.update(task, completed=done, total=total))
        _emit(
            result.as_dict(),
            as_json,
            lambda d: out.print(
                f"prelabel: {d['candidates']} items, embedded {d['embedded']} (cache hits {d['cache_hits']}), "
                f"{d['predictions_written']} predictions from {d['model_version'] or 'no model'} in {d['seconds']:.1f}s"
                f" — {d['note']}"
            ),
        )


models_app = typer.Typer(help="Model versions: list and show lineage and metrics.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@handle_errors
def models_list(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Every model version, oldest first, with status and evaluation metrics."""
    with Project.from_config_file(config, workdir=workdir) as project:
        rows = project.models()

    def render(d: dict[str, Any]) -> None:
        t = Table(title="model versions")
        for col in ("id", "status", "head", "dataset", "accuracy", "macro_f1", "created"):
            t.add_column(col)
        for m in d["models"]:
            met = m["metrics"]
            t.add_row(
                m["id"],
                m["status"],
                m["head"],
                str(m["dataset_version_id"]),
                f"{met.get('accuracy', float('nan')):.4f}",
                f"{met.get('macro_f1', float('nan')):.4f}",
                str(m["created_at"])[:19],
            )
        out.print(t)

    _emit({"models": rows}, as_json, render)


@models_app.command("show")
@handle_errors
def models_show(
    version: Annotated[str, typer.Argument(help="Model version id (mv-...).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One model version: lineage (encoder, head, dataset version) and metrics."""
    with Project.from_config_file(config, workdir=workdir) as project:
        row = project.model(version)
    _emit(row, as_json, lambda d: out.print_json(json.dumps(d, default=str)))


# ---- status ------------------------------------------------------------------------------------------------------
def _status_table(d: dict[str, Any]) -> None:
    t = Table(title=f"labelloop project {d['project']}", show_header=False)
    t.add_row("store", d["store"])
    t.add_row("items", str(d["items"]))
    for split, n in d["items_by_split"].items():
        t.add_row(f"  split {split}", str(n))
    t.add_row("labelled items", str(d["labelled_items"]))
    for label, n in d["labels_by_class"].items():
        t.add_row(f"  {label}", str(n))
    t.add_row("label events", str(d["label_events"]))
    t.add_row("quarantined rows", str(d["quarantined"]))
    for reason, n in d["quarantine_by_reason"].items():
        t.add_row(f"  {reason}", str(n))
    t.add_row("ingest runs", str(d["ingest_runs"]))
    out.print(t)


@app.command()
@handle_errors
def status(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Counts: items, labels, quarantine summary."""
    with Project.from_config_file(config, workdir=workdir) as project:
        _emit(project.status(), as_json, _status_table)


# ---- demo (the README's main job) --------------------------------------------------------------------------------
@app.command()
@handle_errors
def demo(
    config: ConfigOpt = DEMO_CONFIG,
    workdir: Annotated[Path, typer.Option("--workdir", "-w")] = Path(".labelloop/demo"),
    as_json: JsonOpt = False,
) -> None:
    """The main job on embedded defaults: init a local SQLite store, ingest a shared dataset, print a summary.

    Running it again continues in the same workdir and adds nothing twice.
    """
    with Project.from_config_file(config, workdir=workdir) as project:
        project.init()
        summary = _run_ingest(project, None, as_json)
        result = {"ingest": summary.as_dict(), "status": project.status()}
        if as_json:
            _emit(result, True, lambda _: None)
        else:
            _ingest_table(result["ingest"])
            _status_table(result["status"])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
