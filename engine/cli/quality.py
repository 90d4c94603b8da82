"""``labelloop quality``: the label-quality report, gold set, review queue and auto-labeling commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop.engine.api import Project
from labelloop.engine.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, WorkdirOpt, _emit, handle_errors, out

quality_app = typer.Typer(
    help="Label quality: report (gold, agreement, adjudication, label errors, gates), gold set, review, auto-label.",
    invoke_without_command=True,
)
review_app = typer.Typer(help="The review queue (a separate Label Studio project).", no_args_is_help=True)
quality_app.add_typer(review_app, name="review")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _render_report(d: dict[str, Any]) -> None:
    res = d["resolution"]
    t = Table(title="resolution", show_header=False)
    t.add_row("method", res["method"])
    t.add_row("resolved items", str(res["resolved"]))
    for rule, n in res["by_rule"].items():
        t.add_row(f"  by {rule}", str(n))
    t.add_row("waiting for review", str(len(res["review_queue"])))
    for note in res["notes"]:
        t.add_row("note", note)
    out.print(t)

    gold = d["gold"]
    t = Table(title=f"gold accuracy (overall {_fmt(gold['accuracy'])} on {gold['answers']} answers)")
    for col in ("annotator", "answers", "correct", "accuracy"):
        t.add_column(col)
    for name, row in gold["per_annotator"].items():
        t.add_row(name, str(row["answers"]), str(row["correct"]), _fmt(row["accuracy"]))
    out.print(t)

    agr = d["agreement"]
    t = Table(title=f"agreement ({agr['overlap_items']} items with several annotators)", show_header=False)
    for key in ("percent", "krippendorff_alpha_nominal", "fleiss_kappa"):
        t.add_row(key, _fmt(agr.get(key)))
    for cls, value in (agr.get("per_class") or {}).items():
        t.add_row(f"  class {cls}", _fmt(value))
    for pair, row in (agr.get("pairs") or {}).items():
        t.add_row(f"  {pair}", f"kappa {_fmt(row['cohen_kappa'])} on {row['items']} items")
    out.print(t)

    le = d["label_errors"]
    if le is not None:
        t = Table(title=f"suspected label errors: {len(le['suspects'])} of {le['checked']} (rate {_fmt(le['rate'])})")
        for col in ("item", "given", "suggested", "p(given)", "p(suggested)"):
            t.add_column(col)
        for s in le["suspects"][:20]:
            t.add_row(
                str(s["item_id"]), s["given"], s["suggested"], _fmt(s["self_confidence"]), _fmt(s["suggested_prob"])
            )
        if le["note"]:
            t.caption = le["note"]
        out.print(t)

    au = d["autolabel_audit"]
    out.print(
        f"auto-labels: {au['auto_labels']}, audited {au['audited']}, audit precision {_fmt(au['audit_precision'])}"
    )
    t = Table(title="quality gates")
    for col in ("gate", "status", "value", "threshold", "detail"):
        t.add_column(col)
    for g in d["gates"]:
        style = {"pass": "green", "fail": "bold red", "not_measured": "yellow"}[g["status"]]
        t.add_row(g["gate"], f"[{style}]{g['status']}[/]", _fmt(g["value"]), _fmt(g["threshold"]), g["detail"])
    out.print(t)


@quality_app.callback()
@handle_errors
def quality(
    ctx: typer.Context,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
    label_errors: Annotated[
        bool, typer.Option("--label-errors/--no-label-errors", help="Run the label-error check (embeds labels).")
    ] = True,
) -> None:
    """Print the quality report; exit code 8 when a gate fails (so a scheduler can stop before training)."""
    if ctx.invoked_subcommand is not None:
        return
    with Project.from_config_file(config, workdir=workdir) as project:
        report = project.quality(label_errors=label_errors).as_dict()
    _emit(report, as_json, _render_report)
    if report["blocked"]:
        raise typer.Exit(8)


@quality_app.command("gold")
@handle_errors
def gold(
    split: Annotated[str, typer.Option("--split", help="Split whose imported labels are trusted.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many items to add to the gold set.")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add items with trusted (imported) labels to the gold set; rounds mix them in at quality.gold.rate."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.add_gold(split=split, n=n, seed=seed)
    _emit(result, as_json, lambda d: out.print(f"gold: added {d['added']}, gold set now {d['gold_items']} items"))


@review_app.command("push")
@handle_errors
def review_push(
    suspects: Annotated[bool, typer.Option("--suspects", help="Also send suspected label errors.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send disputed items (and suspected label errors) to the reviewers' Label Studio project."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.push_review(suspects=suspects)
    _emit(
        result.as_dict(),
        as_json,
        lambda d: out.print(
            f"review: {d['disputed']} disputed, {d['suspects']} suspects → {d['newly_recorded']} new tasks in "
            f"project {d['ls_project_id']}"
        ),
    )


@review_app.command("pull")
@handle_errors
def review_pull(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """Pull reviewers' decisions as label events with source=adjudication."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.pull_review()
    _emit(result.as_dict(), as_json, lambda d: out.print(f"review pull: {d['new']} decisions, {d['edited']} edits"))


@quality_app.command("autolabel")
@handle_errors
def autolabel(
    seed: Annotated[int, typer.Option("--seed")] = 0,
    push: Annotated[bool, typer.Option("--push/--no-push", help="Push the audit sample to Label Studio.")] = True,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Auto-label confident pool items under quality.autolabel.target and push a random audit sample of them to
    people; `labelloop quality` then reports the audit precision."""
    with Project.from_config_file(config, workdir=workdir) as project:
        result = project.auto_label(seed=seed)
        if push and result.audit_round_id is not None:
            project.push_round(result.audit_round_id)

    def render(d: dict[str, Any]) -> None:
        t = Table(title=f"auto-label with {d['model_version']} (target {d['target']}, alpha {d['alpha']})")
        for col in ("class", "threshold", "calibration precision", "lower bound", "support"):
            t.add_column(col)
        for cls, row in d["thresholds"].items():
            t.add_row(
                cls, _fmt(row["threshold"]), _fmt(row["precision"]), _fmt(row["lower_bound"]), _fmt(row["support"])
            )
        out.print(t)
        out.print(
            f"auto-labelled {d['auto_labelled']} of {d['candidates']} candidates; audit round {d['audit_round_id']} "
            f"with {len(d['audit_items'])} items"
        )
        for note in d["notes"]:
            out.print(f"note: {note}")

    _emit(result.as_dict(), as_json, render)


@quality_app.command("triage")
@handle_errors
def triage(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, as_json: JsonOpt = False) -> None:
    """The triage queue (items flagged ambiguous, persistent disagreements, re-queued items, with comments) and the
    most disputed label pairs."""
    from labelloop.engine.quality.assess import resolve_store
    from labelloop.engine.quality.triage import triage_queue

    with Project.from_config_file(config, workdir=workdir) as project:
        live, resolution = resolve_store(project.store, project.config)
        data = triage_queue(project.store.label_events(), live, resolution).as_dict()

    def render(d: dict[str, Any]) -> None:
        t = Table(title=f"triage queue ({len(d['entries'])} items)")
        for col in ("item", "why", "flagged by", "comments"):
            t.add_column(col)
        for e in d["entries"]:
            comments = " | ".join(f"{c['annotator']}: {c['comment']}" for c in e["comments"])
            t.add_row(str(e["item_id"]), "; ".join(e["reasons"]), ", ".join(e["flagged_by"]), comments)
        out.print(t)
        t = Table(title=f"most disputed label pairs ({d['overlap_items']} items with several annotators)")
        for col in ("labels", "disagreements", "items"):
            t.add_column(col)
        for p in d["pairs"]:
            t.add_row(" vs ".join(p["labels"]), str(p["disagreements"]), str(p["items"]))
        out.print(t)

    _emit(data, as_json, render)
