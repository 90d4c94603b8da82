"""``labelloop metrics``: the operations metrics (show), a Prometheus endpoint (serve) and a Pushgateway push."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop.engine.api import Project
from labelloop.engine.cli.common import (
    DEFAULT_CONFIG,
    ConfigOpt,
    JsonOpt,
    WorkdirOpt,
    _emit,
    _fail,
    err,
    handle_errors,
    out,
)
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.metrics.ops import OpsMetrics, load_random_ratios, ops_from_store

metrics_app = typer.Typer(help="Operations metrics: throughput, lead time, backlog, cost; Prometheus endpoint.",
                          no_args_is_help=True)  # fmt: skip

BENCH_STRATEGIES = Path(__file__).resolve().parents[2] / "bench" / "strategies.json"

RatiosOpt = Annotated[
    Path | None,
    typer.Option("--random-reference", help="strategies benchmark JSON for the labels-saved estimate "
                 "(default: bench/strategies.json when present)."),
]  # fmt: skip
DriftOpt = Annotated[
    Path | None, typer.Option("--drift-report", help="A drift report JSON (DriftReport.as_dict) to export too.")
]


def _ratios(path: Path | None) -> dict[str, float] | None:
    if path is not None:
        try:
            return load_random_ratios(path)
        except (OSError, ValueError) as e:
            raise typer.BadParameter(f"--random-reference: {e}") from None
    return load_random_ratios(BENCH_STRATEGIES) if BENCH_STRATEGIES.is_file() else None


def _drift(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise typer.BadParameter(f"cannot read drift report {path}: {e}") from None
    if not isinstance(data, dict) or "alert" not in data:
        raise typer.BadParameter(f"{path} is not a drift report (no 'alert' key)")
    return data


def _fmt(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _render(d: dict[str, Any]) -> None:
    o = d["overall"]
    t = Table(title="operations", show_header=False)
    rows = [
        ("answers (labels / skips)", f"{o['answers']} ({o['labels']} / {o['skips']})"),
        ("labels per annotated hour", _fmt(o["labels_per_annotated_hour"], 1)),
        ("labels per active hour", _fmt(o["labels_per_active_hour"], 1)),
        ("lead time median / p90 (s)", f"{_fmt(o['lead_time_s']['median'], 1)} / {_fmt(o['lead_time_s']['p90'], 1)}"),
        ("turnaround median / p90 (s)",
         f"{_fmt(o['turnaround_s']['median'], 0)} / {_fmt(o['turnaround_s']['p90'], 0)}"),
        ("backlog (review)", f"{o['backlog']} ({d['review_backlog']})"),
        ("pre-label acceptance", _fmt(o["acceptance"]["rate"], 3)),
        ("auto-label share", _fmt(d["auto_label_share"], 3)),
        (f"cost per label ({d['currency']})", _fmt(o["cost_per_label"], 3)),
        ("labels saved vs random (estimate)", _fmt(d["labels_saved"]["estimated"], 0)),
    ]  # fmt: skip
    for k, v in rows:
        t.add_row(k, v)
    for note in d["notes"]:
        t.add_row("note", note)
    out.print(t)
    for title, groups in (("per round", d["per_round"]), ("per annotator", d["per_annotator"])):
        g = Table(title=title)
        for col in ("", "labels", "skips", "lab/active h", "lead p50 s", "turnaround p50 s", "backlog", "accept"):
            g.add_column(col)
        for key, r in groups.items():
            g.add_row(key, str(r["labels"]), str(r["skips"]), _fmt(r["labels_per_active_hour"], 1),
                      _fmt(r["lead_time_s"]["median"], 1), _fmt(r["turnaround_s"]["median"], 0),
                      _fmt(r["backlog"]), _fmt(r["acceptance"]["rate"], 3))  # fmt: skip
        out.print(g)


def _ops(project: Project, ratios: Path | None) -> OpsMetrics:
    return ops_from_store(project.store, project.config, random_ratios=_ratios(ratios))


@metrics_app.command("show")
@handle_errors
def show(config: ConfigOpt = DEFAULT_CONFIG, workdir: WorkdirOpt = None, random_reference: RatiosOpt = None,
         as_json: JsonOpt = False) -> None:  # fmt: skip
    """Throughput, lead time, turnaround, backlog, acceptance, auto-label share, cost: overall, per round/annotator."""
    with Project.from_config_file(config, workdir=workdir) as project:
        _emit(_ops(project, random_reference).as_dict(), as_json, _render)


@metrics_app.command("serve")
@handle_errors
def serve_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: ops.metrics_port (9464).")] = None,
    host: Annotated[str, typer.Option("--host", help="Bind address; other than 127.0.0.1 only on purpose.")] = (
        "127.0.0.1"
    ),
    random_reference: RatiosOpt = None,
    drift_report: DriftOpt = None,
    min_interval: Annotated[float, typer.Option("--min-interval", help="Seconds a snapshot is reused.")] = 15.0,
) -> None:
    """Serve the operations metrics for Prometheus at http://HOST:PORT/metrics until interrupted."""
    from prometheus_client import CollectorRegistry

    from labelloop.engine.metrics.prometheus import OpsCollector, serve

    project = Project.from_config_file(config, workdir=workdir)
    try:
        ratios = _ratios(random_reference)

        def snapshot() -> tuple[OpsMetrics, dict[str, Any] | None]:
            return ops_from_store(project.store, project.config, random_ratios=ratios), _drift(drift_report)

        registry = CollectorRegistry()
        collector = OpsCollector(snapshot, project=project.config.project, min_interval_s=min_interval)
        collector.snapshot()  # fail now on a bad store or report, not at the first scrape
        registry.register(collector)
        server, _ = serve(registry, port=project.config.ops.metrics_port if port is None else port, host=host)
        err.print(f"serving metrics at http://{host}:{server.server_port}/metrics (Ctrl-C stops)", highlight=False)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    finally:
        project.close()


@metrics_app.command("push")
@handle_errors
def push(
    config: ConfigOpt = DEFAULT_CONFIG,
    workdir: WorkdirOpt = None,
    url: Annotated[str | None, typer.Option("--url", help="Pushgateway URL (default: ops.pushgateway_url).")] = None,
    random_reference: RatiosOpt = None,
    drift_report: DriftOpt = None,
) -> None:
    """Push the current operations metrics to a Prometheus Pushgateway once."""
    from labelloop.engine.metrics.prometheus import push_summary

    with Project.from_config_file(config, workdir=workdir) as project:
        target = url or project.config.ops.pushgateway_url
        if not target:
            raise typer.BadParameter("no Pushgateway: pass --url or set ops.pushgateway_url in the config")
        try:
            push_summary(target, _ops(project, random_reference), project=project.config.project,
                         drift=_drift(drift_report))  # fmt: skip
        except OSError as e:
            raise _fail(ExitCode.SERVICE_UNREACHABLE, str(e)) from None
    out.print(f"pushed to {target}")
