"""The ``labelloop`` command: thin Typer commands over :mod:`labelloop.engine.api`.

Each command prints a human table, or one JSON object with ``--json``; logs go to stderr. Exit codes are
:class:`labelloop.engine.exit_codes.ExitCode` (documented in the README).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from labelloop.engine.api import Project
from labelloop.engine.cli.common import (
    DEFAULT_CONFIG,
    DEMO_CONFIG,
    ERROR_EXIT_CODES,
    ConfigOpt,
    JsonOpt,
    WorkdirOpt,
    _emit,
    err,
    handle_errors,
    out,
)
from labelloop.engine.cli.cycle import cycle as cycle_command
from labelloop.engine.cli.dataset import dataset_app
from labelloop.engine.cli.metrics import metrics_app
from labelloop.engine.cli.quality import quality_app
from labelloop.engine.cli.report import report_app
from labelloop.engine.cli.taxonomy import taxonomy_app
from labelloop.engine.config import ConfigError
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.ingest import IngestSummary

__all__ = ["ERROR_EXIT_CODES", "app", "main"]

app = typer.Typer(
    name="labelloop",
    help="Active-learning, model-assisted labeling: ingest, pre-label, select, push to Label Studio, pull, retrain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("labelloop.cli")


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logs on stderr (-v, -vv).")] = 0,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")


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
def train(
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
    force_reason: Annotated[
        str | None,
        typer.Option("--force-reason", help="Train despite failed quality gates; the reason is recorded."),
    ] = None,
) -> None:
    """Fit the head on the resolved labels (eval split held out), register a model version and serve it.
    Refused with exit code 8 when a quality gate fails (see `labelloop quality`)."""
    with Project.from_config_file(config, workdir=workdir) as project:
        _emit(project.train(force_reason=force_reason).as_dict(), as_json, _train_table)


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
    b = d["budget"]
    t.add_row(f"budget ({b['period']} from {b['period_start'][:10]})", "")
    t.add_row("  answers this period", str(b["answers_in_period"]))
    t.add_row("  committed (pushed, unanswered)", f"{b['committed_answers']:g}")
    if b["spent"] is not None:
        t.add_row(f"  spent / committed ({b['currency']})", f"{b['spent']:.2f} / {b['committed_cost']:.2f}")
    t.add_row(
        "  remaining labels", "no cap" if b["remaining_period_labels"] is None else f"{b['remaining_period_labels']:g}"
    )
    if b["remaining_period_cost"] is not None:
        t.add_row(f"  remaining {b['currency']}", f"{b['remaining_period_cost']:.2f}")
    t.add_row("  tasks a round may push now", "no cap" if b["tasks_allowed"] is None else str(b["tasks_allowed"]))
    out.print(t)


@app.command()
@handle_errors
def status(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Counts: items, labels, quarantine summary."""
    with Project.from_config_file(config, workdir=workdir) as project:
        _emit(project.status(), as_json, _status_table)


# ---- rounds: select + push, pull -----------------------------------------------------------------------------
@app.command("round")
@handle_errors
def round_(
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Strategy name (default: config).")] = None,
    k: Annotated[int | None, typer.Option("--k", help="Items to pick (default rounds.batch_size).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default rounds.seed + round count).")] = None,
    push: Annotated[bool, typer.Option("--push/--no-push", help="Push the picks to Label Studio.")] = True,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Select the next items with a strategy, record the round, and push them with pre-labels to Label Studio."""
    with Project.from_config_file(config, workdir=workdir) as project:
        rnd = project.select_round(strategy=strategy, k=k, seed=seed)
        result: dict[str, Any] = {"round": rnd.as_dict()}
        if push:
            result["push"] = project.push_round(rnd.round_id).as_dict()
    _emit(
        result,
        as_json,
        lambda d: out.print(
            f"round {d['round']['round_id']}: {len(d['round']['item_ids'])} items by {d['round']['strategy']} "
            f"(seed {d['round']['seed']})"
            + (
                f", pushed {d['push']['tasks']} tasks to Label Studio project {d['push']['ls_project_id']}"
                if "push" in d
                else ""
            )
        ),
    )


@app.command()
@handle_errors
def pull(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Pull new, edited and deleted annotations from Label Studio since the last pull (idempotent)."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.pull().as_dict()
    _emit(
        result,
        as_json,
        lambda d: out.print(
            f"pulled {d['changed_tasks']} changed tasks: {d['new']} new, {d['edited']} edited, {d['deleted']} deleted, "
            f"{d['skipped']} skipped; {d['events_written']} label events"
        ),
    )


ls_app = typer.Typer(
    help="The local Label Studio server (127.0.0.1, SQLite, own virtual environment).", no_args_is_help=True
)
app.add_typer(ls_app, name="labelstudio")


def _server(config: Path, workdir: Path | None) -> Any:
    from labelloop.engine.labelstudio import local_server_config

    project = Project.from_config_file(config, workdir=workdir)
    return local_server_config(project.config, project.workdir)


@ls_app.command("start")
@handle_errors
def ls_start(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Install (first time) and start the local server; idempotent. The token stays in a 0600 file."""
    from labelloop.connectors.labelstudio import server

    st = server.start(_server(config, workdir))
    _emit(st.__dict__, as_json, lambda d: out.print(f"Label Studio at {d['url']} (pid {d['pid']})"))


@ls_app.command("stop")
@handle_errors
def ls_stop(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the local server (by its pid file)."""
    from labelloop.connectors.labelstudio import server

    stopped = server.stop(_server(config, workdir))
    _emit({"stopped": stopped}, as_json, lambda d: out.print("stopped" if d["stopped"] else "was not running"))


@ls_app.command("status")
@handle_errors
def ls_status(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Whether the local server runs and answers /health/."""
    from labelloop.connectors.labelstudio import server

    _emit(server.status(_server(config, workdir)).__dict__, as_json, lambda d: out.print(str(d)))


# ---- simulate: strategies against random on a labelled dataset ------------------------------------------------
@app.command()
@handle_errors
def simulate(
    dataset: Annotated[Path, typer.Argument(help="Labelled CSV (the oracle), e.g. ../shared/datasets/trec/trec.csv.")],
    strategy: Annotated[
        list[str], typer.Option("--strategy", "-s", help="Strategy name; repeat for several (random always runs).")
    ] = ["margin"],  # noqa: B006 (Typer reads the default; it is never mutated)
    text_field: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_field: Annotated[str, typer.Option(help="Label column (the oracle's answers).")] = "label",
    split_field: Annotated[
        str | None, typer.Option(help="Column with train/test values; none: a seeded stratified 80/20 split.")
    ] = None,
    head: Annotated[str, typer.Option(help="Head retrained each round.")] = "logreg",
    seed_size: Annotated[int, typer.Option(help="Cold-start labels.")] = 50,
    batch_size: Annotated[int, typer.Option(help="Labels per round.")] = 50,
    budget: Annotated[int, typer.Option(help="Labels in total.")] = 1000,
    seeds: Annotated[int, typer.Option(help="Repetitions with different seeds.")] = 3,
    cache: Annotated[Path, typer.Option(help="Embedding cache folder.")] = Path(".labelloop/bench-cache"),
    as_json: JsonOpt = False,
) -> None:
    """Pool-based simulation: the dataset's labels answer; each strategy against random, several seeds."""
    from labelloop.engine.simulate import SimulationConfigError, run_simulation_from_config

    if not dataset.is_file():
        raise ConfigError(f"dataset not found: {dataset}")
    try:
        result = run_simulation_from_config(
            dataset,
            text_field,
            label_field,
            split_field,
            strategy,
            head=head,
            seed_size=seed_size,
            batch_size=batch_size,
            budget=budget,
            seeds=seeds,
            cache_root=cache,
        )
    except SimulationConfigError as e:
        raise ConfigError(str(e)) from None

    def render(d: dict[str, Any]) -> None:
        t = Table(title=f"simulation on {Path(str(d['dataset'])).name}: labels to reach {d['target']:.3f} accuracy")
        t.add_column("strategy")
        t.add_column("labels to target")
        for name, n in d["labels_to_target"].items():
            t.add_row(name, "never" if n is None else f"{n:.0f}")
        out.print(t)

    _emit(result, as_json, render)


# ---- demo (the README's main job) --------------------------------------------------------------------------------
@app.command()
@handle_errors
def demo(
    config: ConfigOpt = DEMO_CONFIG,
    workdir: Annotated[Path, typer.Option("--workdir", "-w")] = Path(".labelloop/demo"),
    as_json: JsonOpt = False,
) -> None:
    """Two turns of the loop on embedded defaults: local Label Studio + SQLite + local Ray, TREC, two simulated
    annotators, gold items and overlap; writes the HTML report. Running it again continues and duplicates nothing.
    """
    from labelloop.engine.demo import run_demo

    # The first run installs and boots Label Studio (minutes): say what is happening even without -v.
    if not logging.getLogger().isEnabledFor(logging.INFO):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        for name in ("labelloop.engine.demo", "labelloop.connectors.labelstudio.server"):
            lg = logging.getLogger(name)
            lg.setLevel(logging.INFO)
            lg.addHandler(handler)
            lg.propagate = False  # else the root handler prints each line a second time
    with Project.from_config_file(config, workdir=workdir) as project:
        s = run_demo(project)
    result = {
        "steps": s.steps,
        "accuracy_before": s.accuracy_before,
        "accuracy_after": s.accuracy_after,
        "model_version": s.model_version,
        "labelstudio": s.labelstudio_url,
        "report": s.report,
        "status": s.status,
    }

    def render(d: dict[str, Any]) -> None:
        t = Table(title="labelloop demo", show_header=False)
        for step in d["steps"]:
            t.add_row(step["step"], ", ".join(f"{k}={v}" for k, v in step.items() if k != "step"))
        st = d["status"]
        t.add_row("items", f"{st['items']} ({', '.join(f'{k}: {v}' for k, v in st['items_by_split'].items())})")
        t.add_row("labelled items", str(st["labelled_items"]))
        before = "none (no model yet)" if d["accuracy_before"] is None else f"{d['accuracy_before']:.3f}"
        after = "n/a" if d["accuracy_after"] is None else f"{d['accuracy_after']:.3f}"
        t.add_row("test accuracy", f"before {before} → after {after} ({d['model_version']})")
        t.add_row("open in a browser", d["labelstudio"])
        t.add_row("report", str(d["report"]))
        out.print(t)

    _emit(result, as_json, render)


app.add_typer(quality_app, name="quality")
app.add_typer(dataset_app, name="dataset")
app.add_typer(metrics_app, name="metrics")
app.command("cycle")(handle_errors(cycle_command))
app.add_typer(report_app, name="report")
app.add_typer(taxonomy_app, name="taxonomy")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
