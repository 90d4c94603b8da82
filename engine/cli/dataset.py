"""``labelloop dataset``: list dataset versions, diff two of them, export one with label provenance.

An export is checked against the quality gates first: the gates recorded when a model was trained on that version
(what the training saw), or, for a version no model was trained on, the gates measured now on the current labels.
A failed gate refuses the export (exit code 8) unless ``--force-reason`` says why, which the export records.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from labelloop.connectors.exports import ExportBlocked, available_exporters, export_dataset_version
from labelloop.engine.api import Project
from labelloop.engine.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, WorkdirOpt, _emit, _fail, handle_errors, out
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.store.dataset_versions import (
    ManifestError,
    diff_versions,
    get_dataset_version,
    list_dataset_versions,
)

dataset_app = typer.Typer(help="Dataset versions: list, diff, export with label provenance.", no_args_is_help=True)

F = TypeVar("F", bound=Callable[..., Any])

# Errors only these commands raise, on top of common.ERROR_EXIT_CODES.
_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ExportBlocked, ExitCode.GATE_BLOCKED),
    (ManifestError, ExitCode.BAD_INPUT),
    (FileExistsError, ExitCode.BAD_INPUT),
)


def _dataset_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except tuple(t for t, _ in _EXIT_CODES) as e:
            code = next(c for t, c in _EXIT_CODES if isinstance(e, t))
            raise _fail(code, str(e)) from None

    return wrapper  # type: ignore[return-value]


@dataset_app.command("list")
@handle_errors
@_dataset_errors
def dataset_list(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Every dataset version, oldest first, with the model versions trained on it."""
    with Project.from_config_file(config, workdir=workdir) as project:
        models: dict[str, list[str]] = {}
        for m in project.store.model_versions():
            models.setdefault(m["dataset_version_id"], []).append(m["id"])
        rows = [
            {**v.__dict__, "created_at": str(v.created_at), "models": models.get(v.id, [])}
            for v in list_dataset_versions(project.store)
        ]

    def render(d: dict[str, Any]) -> None:
        t = Table(title="dataset versions")
        for col in ("id", "items", "resolution", "created", "models"):
            t.add_column(col)
        for v in d["versions"]:
            t.add_row(v["id"], str(v["n_items"]), v["resolution_rule"], v["created_at"][:19], ", ".join(v["models"]))
        out.print(t)

    _emit({"versions": rows}, as_json, render)


@dataset_app.command("diff")
@handle_errors
@_dataset_errors
def dataset_diff(
    v1: Annotated[str, typer.Argument(help="Older dataset version (ds-...).")],
    v2: Annotated[str, typer.Argument(help="Newer dataset version (ds-...).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Rows shown per table (JSON has all).")] = 20,
) -> None:
    """Items added, removed and relabelled from V1 to V2 (matched by identity hash)."""
    with Project.from_config_file(config, workdir=workdir) as project:
        diff = diff_versions(project.store, project.workdir, v1, v2)

    def render(d: dict[str, Any]) -> None:
        c = d["counts"]
        out.print(
            f"{d['v1']} → {d['v2']}: {c['added']} added, {c['removed']} removed, {c['relabelled']} relabelled, "
            f"{c['unchanged']} unchanged",
            soft_wrap=True,
        )
        for key, cols in (
            ("added", ("item_id", "item", "label", "rule")),
            ("removed", ("item_id", "item", "label", "rule")),
            ("relabelled", ("item_id", "item", "old", "new", "old_rule", "new_rule")),
        ):
            if not d[key]:
                continue
            t = Table(title=key)
            for col in cols:
                t.add_column(col)
            for row in d[key][:limit]:
                t.add_row(*(str(row[col])[:16] if col == "item" else str(row[col]) for col in cols))
            if len(d[key]) > limit:
                t.caption = f"... and {len(d[key]) - limit} more (--json lists all)"
            out.print(t)

    _emit(diff.as_dict(), as_json, render)


def _gate_failures(project: Project, version_id: str) -> tuple[list[str], str]:
    """Failed gates for ``version_id`` and where they come from (see the module docstring)."""
    trained = [
        m
        for m in project.store.model_versions()
        if m["dataset_version_id"] == version_id and isinstance(m["metrics"].get("gates"), list)
    ]
    if trained:
        m = trained[-1]
        failed = [g["detail"] for g in m["metrics"]["gates"] if g.get("status") == "fail"]
        return failed, f"recorded when model {m['id']} was trained on it"
    # The label-error check embeds every labelled item: measure it only if a gate uses it.
    report = project.quality(label_errors=project.config.quality.gates.max_label_error_rate is not None)
    return [g.detail for g in report.gates if g.status == "fail"], "measured now on the current labels"


@dataset_app.command("export")
@handle_errors
@_dataset_errors
def dataset_export(
    version: Annotated[str, typer.Argument(help="Dataset version (ds-...).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(available_exporters())}.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file (a folder for hf).")],
    force_reason: Annotated[
        str | None,
        typer.Option("--force-reason", help="Export despite failed quality gates; the reason is recorded."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a dataset version with each label's provenance, and OUT.export.json beside it (rows, sha256, forced
    reason). Refused with exit code 8 when a quality gate failed for it, unless --force-reason is given."""
    with Project.from_config_file(config, workdir=workdir) as project:
        get_dataset_version(project.store, version)  # an unknown version fails before the gates are measured
        failed, gates_from = _gate_failures(project, version)
        result = export_dataset_version(
            project.store,
            project.workdir,
            version,
            fmt,
            out_path,
            force_reason=force_reason,
            gate_failures=failed,
            overwrite=overwrite,
        )
    data = {**result.as_dict(), "gates_from": gates_from}

    def render(d: dict[str, Any]) -> None:
        out.print(
            f"exported {d['dataset_version']} as {d['format']}: {d['rows']} rows → {d['path']}",
            soft_wrap=True,
            highlight=False,
        )
        out.print(f"sha256 {d['sha256']}; record {d['sidecar']}", soft_wrap=True, highlight=False)
        if d["rows_without_provenance"]:
            out.print(f"[yellow]{d['rows_without_provenance']} row(s) have no label event behind their label[/]")
        if d["forced"]:
            out.print(
                f"[yellow]forced past failed gates ({gates_from}): {escape(d['forced']['reason'])}[/]", soft_wrap=True
            )
            for gate in d["forced"]["failed_gates"]:
                out.print(f"  {gate}", highlight=False, markup=False)

    _emit(data, as_json, render)
