"""``labelloop taxonomy``: the versioned label schema. ``show`` lists the recorded versions (recording the config's
taxonomy first if none is), ``migrate`` records an explicit change of the label set and carries it to Label
Studio, ``sync`` re-renders the guidelines into the project, ``reproduce`` rebuilds an old dataset version."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop.engine.api import Project
from labelloop.engine.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, WorkdirOpt, _emit, handle_errors, out

taxonomy_app = typer.Typer(
    help="Versioned label taxonomy: show, migrate, sync guidelines, reproduce.", no_args_is_help=True
)

NoLsOpt = Annotated[bool, typer.Option("--no-labelstudio", help="Change the store only, not the Label Studio project.")]


@taxonomy_app.command("show")
@handle_errors
def taxonomy_show(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Every taxonomy version, oldest first, with the migration that made it."""
    from labelloop.engine.taxonomy.history import TaxonomyHistory, ensure_recorded

    with Project.from_config_file(config, workdir=workdir) as project:
        ensure_recorded(project.store, project.config)
        versions = [v.as_dict() for v in TaxonomyHistory.load(project.store).versions]

    def render(d: dict[str, Any]) -> None:
        t = Table(title="taxonomy versions")
        for col in ("seq", "version", "migration", "labels", "created"):
            t.add_column(col)
        for v in d["versions"]:
            m = v["migration"]
            change = f"{m['kind']} {' '.join(m['sources'])}{' -> ' if m['targets'] else ''}{' '.join(m['targets'])}"
            t.add_row(str(v["seq"]), v["id"], change.strip(), ", ".join(v["labels"]), v["created_at"][:19])
        out.print(t)

    _emit({"versions": versions}, as_json, render)


@taxonomy_app.command("migrate")
@handle_errors
def taxonomy_migrate(
    kind: Annotated[str, typer.Argument(help="add | rename | merge | split | retire")],
    labels: Annotated[
        list[str],
        typer.Argument(
            help="add NEW | rename OLD NEW | merge OLD OLD... NEW | split OLD NEW NEW... | retire OLD [INTO]"
        ),
    ],
    note: Annotated[str | None, typer.Option(help="Why (recorded with the version).")] = None,
    no_labelstudio: NoLsOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a change of the label set (edit the config's labels first) and update the Label Studio project."""
    from labelloop.engine.taxonomy.migrate import migrate
    from labelloop.engine.taxonomy.schema import Migration

    split_at = {"add": 0, "rename": 1, "merge": len(labels) - 1, "split": 1, "retire": 1}
    at = split_at.get(kind, 0)
    migration = Migration(kind, tuple(labels[:at]), tuple(labels[at:]), note)  # type: ignore[arg-type]
    with Project.from_config_file(config, workdir=workdir) as project:
        client = None if no_labelstudio else project.labelstudio()
        result = migrate(project.store, project.config, migration, client=client)

    def render(d: dict[str, Any]) -> None:
        out.print(f"taxonomy version {d['version']} (from {d['previous']}): labels {', '.join(d['labels'])}")
        if d["dropped"]:
            out.print(f"dropped from the Label Studio project: {', '.join(d['dropped'])}")
        if d["requeued_items"]:
            out.print(f"{len(d['requeued_items'])} items re-queued for relabeling (round {d['requeue_round']})")

    _emit(result.as_dict(), as_json, render)


@taxonomy_app.command("sync")
@handle_errors
def taxonomy_sync(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Record guideline edits as a version and render the taxonomy into the Label Studio project (labels unchanged)."""
    from labelloop.engine.labelstudio import ensure_project
    from labelloop.engine.taxonomy.history import ensure_recorded
    from labelloop.engine.taxonomy.migrate import sync_project

    with Project.from_config_file(config, workdir=workdir) as project:
        version = ensure_recorded(project.store, project.config)
        client = project.labelstudio()
        pid = ensure_project(client, project.config)
        sync_project(client, project.config, pid, version=version.id)
    _emit(
        {"version": version.id, "ls_project_id": pid}, as_json, lambda d: out.print(f"project {pid} shows {version.id}")
    )


@taxonomy_app.command("reproduce")
@handle_errors
def taxonomy_reproduce(
    version: Annotated[str, typer.Argument(help="A dataset version id (labelloop dataset list).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a dataset version from the store as of its creation; exit 1 when it is not bit-identical."""
    from dataclasses import asdict

    from labelloop.engine.taxonomy.reproduce import reproduce_dataset

    with Project.from_config_file(config, workdir=workdir) as project:
        rep = reproduce_dataset(project.store, project.config, version)
    _emit(asdict(rep), as_json, lambda d: out.print(f"{version}: {'identical' if d['identical'] else 'DIFFERENT'}"))
    if not rep.identical:
        raise typer.Exit(1)
