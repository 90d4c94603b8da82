"""``labelloop report``: the HTML report with embedded plots, a Markdown summary, and optionally a screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelloop.engine.api import Project
from labelloop.engine.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, WorkdirOpt, _emit, handle_errors, out

report_app = typer.Typer(help="Reports people can look at.", invoke_without_command=True)


@report_app.callback()
@handle_errors
def report(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html and report.md.")] = Path(
        "report"
    ),
    screenshot: Annotated[
        Path | None, typer.Option("--screenshot", help="Also save a PNG of the page (headless Chromium).")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a self-contained HTML report (learning curve, model versions, confusion matrix, annotators, operations,
    drift, gates) and a Markdown summary; opens without a server."""
    from labelloop.engine.reporting.report import build_report
    from labelloop.engine.reporting.screenshot import screenshot as take

    with Project.from_config_file(config, workdir=workdir) as project:
        result = build_report(project, out_dir).as_dict()
    if screenshot is not None:
        result["screenshot"] = str(take(Path(result["html"]), screenshot))
    _emit(result, as_json, lambda d: out.print(f"report: {d['html']} and {d['markdown']}"))
