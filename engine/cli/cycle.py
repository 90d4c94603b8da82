"""``labelloop cycle``: the unattended nightly cycle, for cron, Airflow or a Ray job.

Its exit code is what a scheduler branches on (README, "Exit codes"): 0 done, 10 nothing new, 8 a gate blocked,
9 another cycle holds the lock, 7 Label Studio (or Ray) unreachable (re-run later: it resumes), 4 store
unavailable, 2 bad config. The summary (``--json`` on stdout, ``--summary-file``) says per step what happened.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop.engine.api import Project
from labelloop.engine.cli.common import (
    DEFAULT_CONFIG,
    ERROR_EXIT_CODES,
    ConfigOpt,
    JsonOpt,
    WorkdirOpt,
    _emit,
    err,
    out,
)
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.loop import CycleSummary, run_cycle, write_summary

SummaryOpt = Annotated[
    Path | None, typer.Option("--summary-file", help="Also write the JSON summary to this file (atomically).")
]


def _render(d: dict[str, Any]) -> None:
    t = Table(title=f"labelloop cycle {d['project']} run {d['run_id']}: {d['outcome']} (exit {d['exit_code']})")
    for col in ("step", "status", "seconds", "counts / note"):
        t.add_column(col)
    for s in d["steps"]:
        info = ", ".join(f"{k}={v}" for k, v in s["counts"].items())
        note = " — ".join(x for x in (info, s["note"], "carried over" if s["carried_over"] else "") if x)
        t.add_row(s["step"], s["status"], f"{s['seconds']:.2f}", note)
    out.print(t)
    mv = d["model_versions"]
    if mv:
        out.print(f"serving: {mv.get('serving_before')} → {mv.get('serving_after')} (candidate {mv.get('candidate')})")
    out.print(d["message"], highlight=False, markup=False)


def cycle(
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    as_json: JsonOpt = False,
    summary_file: SummaryOpt = None,
) -> None:
    """Run the nightly cycle once: ingest → pull → quality → gate → train → evaluate → promote → prelabel → select
    → push. Locked, resumable after a crash, and a no-op (exit 10) when nothing is new."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        project = Project.from_config_file(config, workdir=workdir)
    except Exception as e:  # a config that does not load: still one summary with its exit code
        code = next((c for t, c in ERROR_EXIT_CODES if isinstance(e, t)), ExitCode.INTERNAL_ERROR)
        if code == ExitCode.INTERNAL_ERROR:
            raise
        summary = CycleSummary(project="", run_id="", started_at=started, finished_at=started)
        summary.exit_code, summary.outcome, summary.message = int(code), "failed", str(e)
    else:
        with project:
            summary = run_cycle(project, command=shlex.join(["labelloop", *sys.argv[1:]]))
    data = summary.as_dict()
    if summary_file is not None:
        write_summary(summary, summary_file)
    _emit(data, as_json, _render)
    if summary.exit_code not in (ExitCode.OK, ExitCode.NOTHING_TO_DO):
        err.print(f"[bold red]cycle {summary.outcome}[/]: {summary.message}", highlight=False)
    raise typer.Exit(summary.exit_code)
