"""The cycle's steps, each a function of the :class:`~labelloop.engine.loop.cycle.CycleContext` returning a
:class:`~labelloop.engine.loop.cycle.StepOutcome`. Each is idempotent on its own, so a step cut half-way by a crash
is run again in full by the next cycle without duplicating anything."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelloop.engine.loop.cycle import CycleContext, StepOutcome

log = logging.getLogger(__name__)


def _fingerprint(ctx: CycleContext) -> str:
    """What training, the gates and the promotion decision depend on: the (append-only) label events, the pool,
    and the model, quality and cycle config. Unchanged fingerprint → same dataset version, same gates, same
    decision."""
    cfg = ctx.project.config
    parts = {
        "labels": ctx.project.store.label_state(),
        "task": cfg.task.model_dump(mode="json"),
        "model": cfg.model.model_dump(mode="json"),
        "quality": cfg.quality.model_dump(mode="json"),
        "cycle": cfg.cycle.model_dump(mode="json", include={"promotion_margin", "promotion_metric"}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


# ---- ingest ------------------------------------------------------------------------------------------------------
def incoming_files(ctx: CycleContext) -> list[Path]:
    cfg = ctx.project.config
    if cfg.cycle.incoming:
        return [Path(p) for p in sorted(glob.glob(cfg.cycle.incoming)) if Path(p).is_file()]
    if cfg.source is not None and cfg.source.path.is_file():
        return [cfg.source.path]
    return []


def step_ingest(ctx: CycleContext) -> StepOutcome:
    """Ingest each incoming file not ingested before (same sha256, finished run); a half-done ingest is redone (its
    items are deduplicated by identity)."""
    from labelloop.engine.ingest.identity import file_sha256

    cfg = ctx.project.config
    files = incoming_files(ctx)
    if not files:
        where = cfg.cycle.incoming or (cfg.source.path if cfg.source else None)
        return StepOutcome("skipped", note=f"no incoming file (cycle.incoming / source.path: {where})")
    seen = {r["file_sha256"] for r in ctx.project.store.ingest_runs() if r["status"] == "done"}
    counts: dict[str, Any] = {"files_seen": len(files), "files_ingested": 0, "items_added": 0, "quarantined": 0}
    for path in files:
        if file_sha256(path) in seen:
            continue
        summary = ctx.project.ingest(path)
        counts["files_ingested"] += 1
        counts["items_added"] += summary.items_added
        counts["quarantined"] += summary.quarantined
    if not counts["files_ingested"]:
        return StepOutcome("noop", counts, "every incoming file was ingested before (same sha256)")
    return StepOutcome("done", counts)


# ---- pull --------------------------------------------------------------------------------------------------------
def step_pull(ctx: CycleContext) -> StepOutcome:
    """Annotations and reviewers' decisions since the last pull (cursor stored with the events)."""
    client = ctx.client()
    labels = ctx.project.pull(client=client)
    review = ctx.project.pull_review(client=client)
    counts = {
        "events": labels.events_written + review.events_written,
        "new": labels.new,
        "edited": labels.edited,
        "deleted": labels.deleted,
        "skipped": labels.skipped,
        "review_events": review.events_written,
    }
    return StepOutcome("done" if counts["events"] else "noop", counts)


# ---- quality + gate ----------------------------------------------------------------------------------------------
def step_quality(ctx: CycleContext) -> StepOutcome:
    fp = _fingerprint(ctx)
    cached = ctx.memory.get("quality")
    if cached and cached.get("fingerprint") == fp:
        ctx.run["gates"] = cached["gates"]
        return StepOutcome("noop", {"gates": len(cached["gates"])}, "labels unchanged since the last quality check")
    report = ctx.project.quality()
    gates = [g.as_dict() for g in report.gates]
    ctx.run["gates"] = gates
    ctx.memory["quality"] = {"fingerprint": fp, "gates": gates}
    resolved = len(report.resolution.labels)
    return StepOutcome("done", {"resolved_labels": resolved, "review_queue": len(report.resolution.review)})


def step_gate(ctx: CycleContext) -> StepOutcome:
    gates = ctx.run.get("gates", [])
    failed = [g for g in gates if g["status"] == "fail"]
    counts = {"passed": sum(g["status"] == "pass" for g in gates), "failed": len(failed)}
    if failed:
        names = "; ".join(f"{g['gate']} ({g['detail']})" for g in failed)
        return StepOutcome("blocked", counts, f"quality gate failed: {names}")
    return StepOutcome("noop", counts, "every gate passed or is not measured yet")


# ---- train, evaluate, promote ------------------------------------------------------------------------------------
def step_train(ctx: CycleContext) -> StepOutcome:
    """A candidate model version (not served yet); skipped while the fingerprint is the one last trained on."""
    from labelloop.engine.training import NotEnoughLabels

    fp = _fingerprint(ctx)
    last = ctx.memory.get("train")
    store = ctx.project.store
    if last and last.get("fingerprint") == fp and store.model_version(last["model_version"]) is not None:
        ctx.run["candidate"] = last["model_version"]
        return StepOutcome("noop", {"model_version": last["model_version"]}, "labels unchanged since the last training")
    try:
        result = ctx.project.train(promote=False)
    except NotEnoughLabels as err:
        ctx.run["candidate"] = None
        return StepOutcome("skipped", note=str(err))
    ctx.run["candidate"] = result.model_version
    ctx.memory["train"] = {"fingerprint": fp, "model_version": result.model_version}
    counts = {
        "model_version": result.model_version,
        "dataset_version": result.dataset_version,
        "created": result.created,
        "train_items": result.train_items,
        "eval_items": result.eval_items,
    }
    return StepOutcome("done" if result.created else "noop", counts)


def evaluate_models(ctx: CycleContext, version_ids: list[str]) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 of each model version on the CURRENT labels of the evaluation split (the same items
    for every version, so the scores compare)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from labelloop.engine.embedding import cache_for, embed_store_items, open_runner
    from labelloop.engine.quality.assess import resolve_store
    from labelloop.models.versions import load_model

    cfg, store = ctx.project.config, ctx.project.store
    split = cfg.model.eval_split
    if split is None:
        return {}
    labels = resolve_store(store, cfg)[1].label_map()
    items = [
        it
        for it in store.items(columns=("id", "text", "uri", "content_hash", "split"))
        if it["split"] == split and it["id"] in labels
    ]
    if not items:
        return {}
    truth = [labels[it["id"]] for it in items]
    spec = cfg.model.encoder
    with open_runner(cfg.model.compute) as runner:
        X, _ = embed_store_items(items, spec=spec, cache=cache_for(ctx.project.workdir, spec), runner=runner)
    scores: dict[str, dict[str, float]] = {}
    for vid in version_ids:
        row = store.model_version(vid)
        if row is None:
            raise KeyError(f"model version {vid} is not in the store")
        model = load_model(Path(row["artifact_path"]))
        pred = [model.classes[int(j)] for j in np.asarray(model.predict_proba(X)).argmax(axis=1)]
        scores[vid] = {
            "accuracy": float(accuracy_score(truth, pred)),
            "macro_f1": float(f1_score(truth, pred, average="macro", labels=cfg.task.labels, zero_division=0)),
            "eval_items": len(items),
        }
    return scores


def _decision_key(ctx: CycleContext, candidate: str, serving: str | None) -> str:
    return f"{candidate}|{serving}|{_fingerprint(ctx)}"


def step_evaluate(ctx: CycleContext) -> StepOutcome:
    candidate = ctx.run.get("candidate")
    if not candidate:
        return StepOutcome("skipped", note="no candidate model (not enough labels yet)")
    serving_row = ctx.project.store.serving_model_version()
    serving = serving_row["id"] if serving_row else None
    if candidate == serving:
        return StepOutcome("noop", {"candidate": candidate}, "the candidate is already serving")
    if ctx.memory.get("decided") == _decision_key(ctx, candidate, serving):
        return StepOutcome("noop", {"candidate": candidate, "serving": serving}, "this pair was decided already")
    scores = evaluate_models(ctx, [v for v in (candidate, serving) if v])
    ctx.run["evaluation"] = {"candidate": candidate, "serving": serving, "scores": scores}
    metric = ctx.project.config.cycle.promotion_metric
    counts: dict[str, Any] = {"candidate": candidate, "serving": serving, "metric": metric}
    if scores:
        counts["candidate_score"] = scores[candidate][metric]
        counts["serving_score"] = scores[serving][metric] if serving else None
        counts["eval_items"] = scores[candidate]["eval_items"]
    return StepOutcome("done", counts, "" if scores else "no labelled evaluation items")


def step_promote(ctx: CycleContext) -> StepOutcome:
    """Serve the candidate unless it is worse than the serving model by more than ``cycle.promotion_margin``; the
    decision and both scores are recorded on the candidate (with the serving switch, in one transaction)."""
    from datetime import UTC, datetime

    evaluation = ctx.run.get("evaluation")
    candidate = ctx.run.get("candidate")
    serving_row = ctx.project.store.serving_model_version()
    serving = serving_row["id"] if serving_row else None
    if not candidate:
        return StepOutcome("skipped", note="no candidate model")
    if candidate == serving:
        return StepOutcome("noop", {"serving": serving}, "the candidate is already serving")
    if not evaluation or evaluation.get("candidate") != candidate or evaluation.get("serving") != serving:
        return StepOutcome("noop", {"serving": serving}, "this candidate was decided already")
    cyc = ctx.project.config.cycle
    scores = evaluation["scores"]
    cand_score = scores.get(candidate, {}).get(cyc.promotion_metric)
    serv_score = scores.get(serving, {}).get(cyc.promotion_metric) if serving else None
    if serving is None:
        promote, reason = True, "no model was serving"
    elif cand_score is None or serv_score is None:
        promote, reason = False, "no labelled evaluation items: the serving model is kept"
    else:
        promote = cand_score >= serv_score - cyc.promotion_margin
        sign = ">=" if promote else "<"
        reason = f"candidate {cand_score:.4f} {sign} serving {serv_score:.4f} - margin {cyc.promotion_margin}"
    decision = {
        "decision": "promoted" if promote else "kept_serving",
        "reason": reason,
        "metric": cyc.promotion_metric,
        "margin": cyc.promotion_margin,
        "candidate": candidate,
        "candidate_score": cand_score,
        "serving": serving,
        "serving_score": serv_score,
        "eval_items": scores.get(candidate, {}).get("eval_items", 0),
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cycle_run": ctx.run.get("run_id"),
    }
    ctx.project.store.record_promotion(candidate, decision, serve=promote)
    ctx.memory["decided"] = _decision_key(ctx, candidate, serving)
    ctx.run["promotion"] = decision
    return StepOutcome("done", {k: decision[k] for k in ("decision", "candidate_score", "serving_score")}, reason)


# ---- prelabel, select, push --------------------------------------------------------------------------------------
def step_prelabel(ctx: CycleContext) -> StepOutcome:
    """Predictions from the serving model for unlabelled items it has not predicted yet (new items, and every item
    after a promotion: earlier predictions are stale)."""
    result = ctx.project.prelabel()
    counts = {
        "model_version": result.model_version,
        "candidates": result.candidates,
        "embedded": result.embedded,
        "predictions": result.predictions_written,
    }
    changed = result.predictions_written or result.embedded
    return StepOutcome("done" if changed else "noop", counts, result.note if not changed else "")


def step_drift(ctx: CycleContext) -> StepOutcome:
    """Drift of the newest ingest against the serving model's training items (read-only: ``noop`` with the
    result in the counts; checked once per (model, ingest run) pair). An alert can switch the next round to
    ``drift.on_alert_strategy``."""
    from labelloop.engine.metrics.batch_drift import latest_batch_drift

    project = ctx.project
    serving = project.store.serving_model_version()
    runs = [r["id"] for r in project.store.ingest_runs() if r["status"] == "done"]
    key = f"{serving['id'] if serving else None}:{max(runs) if runs else None}"
    if ctx.memory.get("drift_key") == key:
        ctx.run["drift"] = ctx.memory.get("drift")
        return StepOutcome("skipped", {"alert": (ctx.memory.get("drift") or {}).get("alert")}, "already checked")
    result = latest_batch_drift(project.store, project.config, project.workdir).as_dict()
    strategy = project.config.drift.on_alert_strategy
    if result["alert"] and strategy:
        result["triggered_strategy"] = strategy
    ctx.memory["drift_key"], ctx.memory["drift"] = key, result
    ctx.run["drift"] = result
    reasons = (result.get("report") or {}).get("reasons") or []
    note = result["note"] or ("ALERT: " + "; ".join(reasons) if result["alert"] else "no drift")
    return StepOutcome("noop", {"alert": result["alert"], "batch_items": result["batch_items"]}, note)


def step_select(ctx: CycleContext) -> StepOutcome:
    from labelloop.engine.rounds import NothingToSelect
    from labelloop.engine.rounds.budget import BudgetExhausted

    waiting = [r for r in ctx.project.store.rounds() if r["state"] in ("selected", "pushed")]
    if waiting and not ctx.project.config.cycle.select_when_pending:
        ids = ", ".join(str(r["id"]) for r in waiting)
        return StepOutcome("skipped", {"waiting_rounds": len(waiting)}, f"round(s) {ids} still waiting for labels")
    strategy = (ctx.run.get("drift") or {}).get("triggered_strategy")
    try:
        rnd = ctx.project.select_round(strategy=strategy) if strategy else ctx.project.select_round()
    except NothingToSelect as err:
        return StepOutcome("noop", note=str(err))
    except BudgetExhausted as err:
        ctx.run["budget_exhausted"] = str(err)
        return StepOutcome("skipped", note=str(err))
    ctx.run["selected_round"] = rnd.round_id
    counts = {"round_id": rnd.round_id, "items": len(rnd.item_ids), "strategy": rnd.strategy}
    capped = [n for n in rnd.notes if n.startswith("budget:")]
    return StepOutcome("done", counts, "; ".join(capped))


def step_push(ctx: CycleContext) -> StepOutcome:
    """Push every round still in state ``selected`` (a push cut half-way is repeated; Label Studio gets no
    duplicate task)."""
    todo = [r for r in ctx.project.store.rounds() if r["state"] == "selected"]
    if not todo:
        return StepOutcome("noop", note="no selected round to push")
    from labelloop.engine.rounds.budget import BudgetExhausted

    client = ctx.client()
    tasks = recorded = capped = 0
    for rnd in todo:
        try:
            result = ctx.project.push_round(rnd["id"], client=client)
        except BudgetExhausted as err:
            ctx.run["budget_exhausted"] = str(err)
            break
        tasks += result.tasks
        recorded += result.newly_recorded
        capped += result.capped
    ctx.run["capped"] = ctx.run.get("capped", 0) + capped
    note = f"budget cap: {capped} selected items not pushed" if capped else ""
    if ctx.run.get("budget_exhausted") and not tasks:
        return StepOutcome("skipped", {"rounds": len(todo), "tasks": 0}, ctx.run["budget_exhausted"])
    counts = {"rounds": len(todo), "tasks": tasks, "newly_recorded": recorded, "capped": capped}
    return StepOutcome("done", counts, note)


STEP_FUNCTIONS: dict[str, Callable[[CycleContext], StepOutcome]] = {
    "ingest": step_ingest,
    "pull": step_pull,
    "quality": step_quality,
    "gate": step_gate,
    "train": step_train,
    "evaluate": step_evaluate,
    "promote": step_promote,
    "drift": step_drift,
    "prelabel": step_prelabel,
    "select": step_select,
    "push": step_push,
}
