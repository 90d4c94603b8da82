"""The README's main job: one turn of the labeling loop on embedded defaults, with a simulated annotator.

Local Label Studio (started by labelloop), SQLite store, local Ray. The dataset's own labels play the annotator
(:mod:`labelloop.connectors.labelstudio.simulator`, a demo tool the loop itself never uses); its evaluation split
keeps its labels to measure the model. Each run continues where the last stopped:

1. start Label Studio; init the store; ingest the dataset (a second ingest adds nothing);
2. with no round yet: embed everything and push a cold-start round;
3. the simulated annotator labels every task still waiting; pull;
4. retrain, pre-label, select and push the next round with pre-labels;
5. summarise: items, labels, accuracy before/after, where to open the project.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labelloop.engine.api import Project
from labelloop.engine.labelstudio import ensure_project, local_server_config, open_labelstudio
from labelloop.engine.rounds import NothingToSelect

log = logging.getLogger(__name__)

DEMO_ANNOTATOR = "annotator1@labelloop.local"


@dataclass
class DemoSummary:
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    model_version: str | None = None
    labelstudio_url: str = ""

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


def run_demo(project: Project, *, error_rate: float = 0.05, seed: int = 0) -> DemoSummary:
    from labelloop.connectors.labelstudio.server import ensure_user
    from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator

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

    if not store.rounds():
        pre = project.prelabel()
        summary.add("prelabel", embedded=pre.embedded, note=pre.note)
        rnd = project.select_round()
        push = project.push_round(rnd.round_id, client=client)
        summary.add("round", round=rnd.round_id, strategy=rnd.strategy, items=len(rnd.item_ids), pushed=push.tasks)

    serving = store.serving_model_version()
    summary.accuracy_before = serving["metrics"].get("accuracy") if serving else None

    # The simulated annotator answers every task that has no human event yet.
    answered = {e["item_id"] for e in store.label_events() if e["source"] == "human"}
    waiting = {t["item_id"]: t["task_id"] for t in store.pushed_tasks(pid) if t["item_id"] not in answered}
    if waiting:
        server = local_server_config(cfg, project.workdir)
        token = ensure_user(DEMO_ANNOTATOR, server)
        from labelloop.connectors.labelstudio.client import connect

        annotator = SimulatedAnnotator(
            {DEMO_ANNOTATOR: connect(client.url, token)}, pid, cfg.task.labels, error_rate=error_rate, seed=seed
        )
        truth = _true_labels(project)
        done = annotator.annotate(waiting, {i: truth[i] for i in waiting})
        summary.add("annotate", tasks=len(done), errors=sum(a.is_error for a in done))

    pulled = project.pull(client=client)
    summary.add("pull", new=pulled.new, edited=pulled.edited, deleted=pulled.deleted, skipped=pulled.skipped)

    trained = project.train()
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
    else:
        push = project.push_round(rnd.round_id, client=client)
        summary.add(
            "round",
            round=rnd.round_id,
            strategy=rnd.strategy,
            items=len(rnd.item_ids),
            with_prelabel=push.with_prelabel,
        )
    summary.status = project.status()
    return summary
