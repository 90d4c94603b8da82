"""The README's main job: two turns of the labeling loop on embedded defaults, with simulated annotators.

Local Label Studio (started by labelloop), SQLite store, local Ray. The dataset's own labels play the annotators
(:mod:`labelloop.connectors.labelstudio.simulator`, a demo tool the loop itself never uses); its evaluation split
keeps its labels to measure the model. Each run continues where the last stopped:

1. start Label Studio; init the store; ingest the dataset (a second ingest adds nothing); seed a gold set from the
   evaluation split's trusted labels (mixed into rounds at ``quality.gold.rate``);
2. with no round yet: embed everything and push a cold-start round;
3. twice: two simulated annotators (one careful, one noisier; some tasks get both, per Label Studio's overlap)
   label every task still waiting; pull; retrain behind the quality gates; pre-label; push the next round;
4. write the HTML/Markdown report; summarise: items, labels, accuracy before/after, where to look.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labelloop.engine.api import Project
from labelloop.engine.labelstudio import ensure_project, local_server_config, open_labelstudio
from labelloop.engine.rounds import NothingToSelect

log = logging.getLogger(__name__)

# Two simulated annotators: one careful, one noisier (their gold accuracy and agreement tell them apart).
DEMO_ANNOTATORS = {"annotator1@labelloop.local": 0.03, "annotator2@labelloop.local": 0.15}


@dataclass
class DemoSummary:
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    model_version: str | None = None
    labelstudio_url: str = ""
    report: str | None = None

    def add(self, step: str, **info: Any) -> None:
        log.info("demo step=%s %s", step, info)
        self.steps.append({"step": step, **info})


def _true_labels(project: Project) -> dict[int, str]:
    """item_id → the dataset's label, for the simulated annotator only."""
    src = project.config.source
    if src is None or src.label_field is None or src.id_field is None:
        raise ValueError("the demo needs a source with id_field and label_field (the simulator's answers)")
    df = pd.read_csv(src.path, keep_default_na=False, dtype=str)
    truth = dict(zip(df[src.id_field], df[src.label_field], strict=True))
    return {it["id"]: truth[it["external_id"]] for it in project.store.items(columns=("id", "external_id"))}


def _annotate_waiting(project: Project, client: Any, pid: int, error_rates: dict[str, float], seed: int) -> int:
    """The simulated annotators answer every task with no human event yet, as many per task as Label Studio's
    overlap asks for."""
    from labelloop.connectors.labelstudio.client import connect
    from labelloop.connectors.labelstudio.server import ensure_user
    from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator

    store = project.store
    answered = {e["item_id"] for e in store.label_events() if e["source"] == "human"}
    waiting = {t["item_id"]: t["task_id"] for t in store.pushed_tasks(pid) if t["item_id"] not in answered}
    if not waiting:
        return 0
    server = local_server_config(project.config, project.workdir)
    clients = {name: connect(client.url, ensure_user(name, server)) for name in error_rates}
    overlaps = client.task_overlaps(pid)
    sim = SimulatedAnnotator(clients, pid, project.config.task.labels, error_rate=error_rates, seed=seed)
    truth = _true_labels(project)
    count = {i: min(overlaps.get(i, 1), len(clients)) for i in waiting}
    return len(sim.annotate(waiting, {i: truth[i] for i in waiting}, annotators_per_task=count))


def run_demo(
    project: Project,
    *,
    error_rates: dict[str, float] | None = None,
    turns: int = 2,
    gold_items: int = 30,
    seed: int = 0,
    report_dir: Path | None = None,
) -> DemoSummary:
    """Ingest, seed a gold set, push a cold-start round, then ``turns`` times: the simulated annotators label what
    waits, pull, retrain (quality gates first), pre-label, push the next round; finally write the report."""
    from labelloop.engine.quality.gates import GateBlocked
    from labelloop.engine.reporting.report import build_report

    rates = dict(error_rates or DEMO_ANNOTATORS)
    summary = DemoSummary()
    cfg = project.config
    client = open_labelstudio(cfg, project.workdir)
    summary.labelstudio_url = client.url
    project.init()
    store = project.store
    ing = project.ingest()
    summary.add("ingest", rows=ing.rows_read, added=ing.items_added, quarantined=ing.quarantined)
    pid = ensure_project(client, cfg)
    summary.labelstudio_url = f"{client.url}/projects/{pid}/data"
    split = cfg.model.eval_split
    if cfg.quality.gold.rate > 0 and split and not any(e["source"] == "gold" for e in store.label_events()):
        gold = project.add_gold(split=split, n=gold_items, seed=seed)
        summary.add("gold", added=gold["added"])

    if not store.rounds():
        pre = project.prelabel()
        summary.add("prelabel", embedded=pre.embedded, note=pre.note)
        rnd = project.select_round()
        push = project.push_round(rnd.round_id, client=client)
        summary.add("round", round=rnd.round_id, strategy=rnd.strategy, items=len(rnd.item_ids), pushed=push.tasks)

    serving = store.serving_model_version()
    summary.accuracy_before = serving["metrics"].get("accuracy") if serving else None
    for turn in range(turns):
        done = _annotate_waiting(project, client, pid, rates, seed + turn + len(store.rounds()))
        summary.add("annotate", annotations=done, annotators=len(rates))
        pulled = project.pull(client=client)
        summary.add("pull", new=pulled.new, edited=pulled.edited, deleted=pulled.deleted, skipped=pulled.skipped)
        try:
            trained = project.train()
        except GateBlocked as blocked:
            summary.add("train", blocked=str(blocked))
            break
        summary.model_version = trained.model_version
        summary.accuracy_after = trained.metrics.get("accuracy")
        summary.add(
            "train",
            model_version=trained.model_version,
            labels=trained.train_items + trained.calibration_items,
            accuracy=None if summary.accuracy_after is None else round(summary.accuracy_after, 4),
        )
        pre = project.prelabel()
        summary.add("prelabel", predictions=pre.predictions_written, embedded=pre.embedded)
        try:
            rnd = project.select_round()
        except NothingToSelect as err:
            summary.add("round", note=str(err))
            break
        push = project.push_round(rnd.round_id, client=client)
        summary.add(
            "round",
            round=rnd.round_id,
            strategy=rnd.strategy,
            items=len(rnd.item_ids),
            with_prelabel=push.with_prelabel,
        )
    report = build_report(project, report_dir or project.workdir / "report")
    summary.report = report.html_path
    summary.add("report", html=report.html_path)
    summary.status = project.status()
    return summary
