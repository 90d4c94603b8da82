"""Label Studio round-trip benchmark, through labelloop's own engine code paths (``Project.push_round`` /
``Project.pull``) against a real, local Label Studio.

What it does (defaults in brackets):

1. Starts a fresh Label Studio in a temporary data dir on a free port (first boot runs every migration, ≈1–1.5 min:
   reported apart from the figures) and creates 2 annotator users with known tokens.
2. Builds a project over ``mr_polarity`` (10,662 rows, neg/pos) where only [100] rows keep their source label
   (a temp CSV; 50 per class), then ``ingest()`` → ``train()`` → ``prelabel()`` so the round carries real pre-labels.
3. ``select_round(k=[10,000], strategy="random")``, then times ``push_round`` (every task with a pre-label:
   tasks/s) and a re-push of the same round (must create nothing: asserted on the store and on the server).
4. Annotates [1,000] pushed tasks with the simulated annotator (not part of the figures; timed apart). Label
   Studio has no bulk annotation endpoint and takes ≈5–8 writes/s, so this uses a pool of [4] threads, each with
   its own client (2 users × 2 clients).
5. Times the first ``pull`` (full: no cursor, every task listed and exported → 1,000 annotations into label events).
6. Makes [50] changes ([30] new annotations, [15] edits, [5] deletions) and times the second ``pull``
   (incremental: the ``updated_at`` cursor); asserts its new/edited/deleted counts and events, and that a third
   pull writes 0 events. Reports incremental / full.
7. Stops the server (always) and removes the temp dir (unless ``--keep``).

Usage: ``.venv/bin/python scripts/bench_labelstudio.py [--out bench] [--tasks 10000] [--annotations 1000]``
Writes ``<out>/labelstudio.json`` and ``<out>/labelstudio.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotation, SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
DATASET = Path("/work/shared/datasets/mr_polarity/mr_polarity.csv")
LABELS = ["neg", "pos"]
TOKEN_ENV = "LABELLOOP_BENCH_LS_TOKEN"
ANNOTATORS = ("bench.one@labelloop.test", "bench.two@labelloop.test")


def say(msg: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", flush=True)


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0


def write_source(dataset: Path, dest: Path, n_labelled: int, seed: int) -> pd.DataFrame:
    """The dataset with its label kept on ``n_labelled`` rows (half per class) and blanked elsewhere."""
    df = pd.read_csv(dataset, keep_default_na=False)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    per_class = n_labelled // len(LABELS)
    for i, label in enumerate(LABELS):
        idx = np.flatnonzero(df["label"].to_numpy() == label)
        take = per_class + (1 if i < n_labelled - per_class * len(LABELS) else 0)
        keep.extend(rng.choice(idx, size=take, replace=False).tolist())
    out = df.copy()
    mask = np.ones(len(out), dtype=bool)
    mask[keep] = False
    out.loc[mask, "label"] = ""
    out.to_csv(dest, index=False)
    return df


def annotate_parallel(
    clients: list[tuple[str, LabelStudioClient]],
    project_id: int,
    task_ids: dict[int, int],
    truth: dict[int, str],
    *,
    error_rate: float,
    seed: int,
) -> list[SimulatedAnnotation]:
    """Shard ``task_ids`` round-robin over one thread per client; each thread runs its own simulator."""
    shards: list[dict[int, int]] = [{} for _ in clients]
    for n, item_id in enumerate(sorted(task_ids)):
        shards[n % len(clients)][item_id] = task_ids[item_id]

    def work(i: int) -> list[SimulatedAnnotation]:
        email, client = clients[i]
        sim = SimulatedAnnotator({email: client}, project_id, LABELS, error_rate=error_rate, seed=seed + i)
        return sim.annotate(shards[i], truth)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        parts = list(pool.map(work, range(len(clients))))
    return [a for part in parts for a in part]


def machine_facts() -> dict[str, Any]:
    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mem_total_gib": mem_gib,
        "label_studio": server.LABEL_STUDIO_VERSION,
        "label_studio_sdk": version("label-studio-sdk"),
        "database": "SQLite (Label Studio's default, in the temp data dir)",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    n_changes = args.new + args.edits + args.deletes
    if args.annotations + args.new > args.tasks:
        raise SystemExit("--annotations + --new must not exceed --tasks")
    if args.edits + args.deletes > args.annotations:
        raise SystemExit("--edits + --deletes must not exceed --annotations")
    t_script = time.perf_counter()
    load_before = [round(v, 2) for v in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-labelstudio-"))
    setup: dict[str, float] = {}
    result: dict[str, Any] = {}
    ls_cfg = server.ServerConfig(data_dir=tmp / "labelstudio", port=server.free_port())
    project: Project | None = None
    try:
        # ---- server (first boot: migrations) ------------------------------------------------------------------
        say(f"starting a fresh Label Studio at {ls_cfg.url} (data dir {ls_cfg.data_dir}); first boot ≈1–1.5 min")
        with Timer() as t:
            server.start(ls_cfg, timeout_s=600)
        setup["server_first_boot_s"] = round(t.s, 2)
        token = server.admin_token(ls_cfg)
        os.environ[TOKEN_ENV] = token
        admin = connect(ls_cfg.url, token)
        with Timer() as t:
            user_tokens = {email: server.ensure_user(email, ls_cfg) for email in ANNOTATORS}
        setup["annotator_users_s"] = round(t.s, 2)
        say(f"server up in {setup['server_first_boot_s']} s; {len(ANNOTATORS)} annotators in {t.s:.1f} s")

        # ---- project: ingest, train on the few source labels, pre-label -------------------------------------
        source = tmp / "mr_polarity_bench.csv"
        full = write_source(args.dataset, source, args.labelled, args.seed)
        truth_by_ext = dict(zip(full["id"].astype(str), full["label"].astype(str), strict=True))
        cfg = parse_config(
            {
                "project": "bench-labelstudio",
                "task": {"labels": LABELS},
                "source": {"path": str(source), "label_field": "label"},
                "privacy": {"spacy_model": None, "workers": 1},
                "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                "rounds": {"batch_size": args.tasks},
                "labelstudio": {
                    "url": ls_cfg.url,
                    "project_key": f"bench-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{os.getpid()}",
                    "token_env": TOKEN_ENV,
                },
            },
            base_dir=tmp,
        )
        project = Project(cfg, workdir=tmp / "work")
        project.init()
        with Timer() as t:
            ingested = project.ingest()
        setup["ingest_s"] = round(t.s, 2)
        say(f"ingested in {t.s:.1f} s: {project.store.counts()}")
        with Timer() as t:
            trained = project.train()
        setup["train_s"] = round(t.s, 2)
        with Timer() as t:
            project.prelabel()
        setup["prelabel_s"] = round(t.s, 2)
        say(f"train {setup['train_s']} s, prelabel {setup['prelabel_s']} s")
        with Timer() as t:
            rnd = project.select_round(k=args.tasks, strategy="random", seed=args.seed)
        setup["select_s"] = round(t.s, 2)
        assert len(rnd.item_ids) == args.tasks, (len(rnd.item_ids), rnd.notes)
        assert rnd.model_version, "the round has no serving model: pre-labels would be missing"

        # ---- push (timed) and re-push (timed, must create nothing) --------------------------------------------
        say(f"pushing {args.tasks} tasks with pre-labels (round {rnd.round_id})")
        with Timer() as t:
            pushed = project.push_round(rnd.round_id, client=admin)
        push_s = t.s
        pid = pushed.ls_project_id
        assert pushed.tasks == args.tasks and pushed.newly_recorded == args.tasks, pushed
        assert pushed.with_prelabel == args.tasks, pushed
        on_server = len(admin.pushed_item_ids(pid))
        assert on_server == args.tasks, on_server
        say(f"push: {push_s:.2f} s ({args.tasks / push_s:.0f} tasks/s); re-pushing the same round")
        with Timer() as t:
            again = project.push_round(rnd.round_id, client=admin)
        repush_s = t.s
        on_server_after = len(admin.pushed_item_ids(pid))
        assert again.newly_recorded == 0, again
        assert on_server_after == args.tasks, f"re-push created {on_server_after - args.tasks} tasks"
        assert len(project.store.pushed_tasks(pid)) == args.tasks
        say(f"re-push: {repush_s:.2f} s, 0 new tasks (server holds {on_server_after})")

        # ---- annotate (not part of the figures) ---------------------------------------------------------------
        ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
        truth = {item_id: truth_by_ext[str(e)] for item_id, e in ext.items()}
        tasks = {t["item_id"]: t["task_id"] for t in project.store.pushed_tasks(pid)}
        rng = np.random.default_rng(args.seed)
        order = [int(i) for i in rng.permutation(sorted(tasks))]
        first_ids, new_ids = order[: args.annotations], order[args.annotations : args.annotations + args.new]
        thread_clients = [
            (ANNOTATORS[i % len(ANNOTATORS)], connect(ls_cfg.url, user_tokens[ANNOTATORS[i % len(ANNOTATORS)]]))
            for i in range(args.threads)
        ]
        say(f"annotating {args.annotations} tasks with {args.threads} threads (≈5–8 writes/s)")
        with Timer() as t:
            written = annotate_parallel(
                thread_clients,
                pid,
                {i: tasks[i] for i in first_ids},
                truth,
                error_rate=args.error_rate,
                seed=args.seed,
            )
        annotate_s = t.s
        assert len(written) == args.annotations
        say(f"annotated in {annotate_s:.1f} s ({args.annotations / annotate_s:.1f}/s)")

        # ---- full pull (timed) --------------------------------------------------------------------------------
        events_before = project.store.counts().label_events
        say("full pull (no cursor)")
        with Timer() as t:
            first = project.pull(client=admin)
        full_pull_s = t.s
        events_after_full = project.store.counts().label_events
        assert (first.new, first.edited, first.deleted, first.skipped) == (args.annotations, 0, 0, 0), first
        assert first.events_written == args.annotations == events_after_full - events_before, first
        assert first.changed_tasks == args.tasks, first  # no cursor: every task is listed and exported
        human = [e for e in project.store.label_events() if e["source"] == "human"]
        accepted = [e["prelabel_accepted"] for e in human if e["prelabel_accepted"] is not None]
        say(f"full pull: {full_pull_s:.2f} s, {first.events_written} events")

        # ---- 50 changes, incremental pull (timed), then a pull with nothing to do -----------------------------
        by_email = dict(thread_clients)
        changer = SimulatedAnnotator(by_email, pid, LABELS, error_rate=args.error_rate, seed=args.seed + 100)
        picks = [int(i) for i in rng.permutation(len(written))[: args.edits + args.deletes]]
        to_edit = [written[i] for i in picks[: args.edits]]
        to_delete = [written[i] for i in picks[args.edits :]]
        with Timer() as t:
            changer.annotate({i: tasks[i] for i in new_ids}, truth)
            for ann in to_edit:
                changer.edit(ann, next(x for x in LABELS if x != ann.label))
            for ann in to_delete:
                changer.delete(ann)
        changes_s = t.s
        say(f"{n_changes} changes written in {changes_s:.1f} s; incremental pull")
        with Timer() as t:
            second = project.pull(client=admin)
        incremental_pull_s = t.s
        events_after_inc = project.store.counts().label_events
        assert (second.new, second.edited, second.deleted, second.skipped) == (
            args.new,
            args.edits,
            args.deletes,
            0,
        ), second
        assert second.changed_tasks == n_changes, second
        assert second.events_written == n_changes == events_after_inc - events_after_full, second
        with Timer() as t:
            third = project.pull(client=admin)
        noop_pull_s = t.s
        assert third.events_written == 0 and third.changed_tasks == 0, third
        assert project.store.counts().label_events == events_after_inc
        labels_now = project.store.current_labels()
        assert all(a.item_id not in labels_now for a in to_delete), "a deleted annotation still labels its item"
        assert all(labels_now[a.item_id] != a.label for a in to_edit), "an edit did not change the item's label"
        say(f"incremental pull: {incremental_pull_s:.2f} s; no-op pull: {noop_pull_s:.2f} s")

        result = {
            "push_tasks": args.tasks,
            "push_s": round(push_s, 3),
            "push_tasks_per_s": round(args.tasks / push_s, 1),
            "push_with_prelabel": pushed.with_prelabel,
            "push_chunk": cfg.labelstudio.push_chunk,
            "repush_s": round(repush_s, 3),
            "repush_newly_recorded": again.newly_recorded,
            "repush_tasks_on_server_after": on_server_after,
            "full_pull_annotations": args.annotations,
            "full_pull_s": round(full_pull_s, 3),
            "full_pull_changed_tasks": first.changed_tasks,
            "full_pull_events_written": first.events_written,
            "full_pull_annotations_per_s": round(args.annotations / full_pull_s, 1),
            "incremental_changes": n_changes,
            "incremental_breakdown": {"new": args.new, "edited": args.edits, "deleted": args.deletes},
            "incremental_pull_s": round(incremental_pull_s, 3),
            "incremental_pull_changed_tasks": second.changed_tasks,
            "incremental_pull_events_written": second.events_written,
            "incremental_pull_counts": {"new": second.new, "edited": second.edited, "deleted": second.deleted},
            "incremental_vs_full_ratio": round(incremental_pull_s / full_pull_s, 4),
            "noop_pull_s": round(noop_pull_s, 3),
            "noop_pull_events_written": third.events_written,
            "pool_tasks_in_project": args.tasks,
            "annotate": {
                "annotations": len(written),
                "seconds": round(annotate_s, 2),
                "per_s": round(len(written) / annotate_s, 2),
                "threads": args.threads,
                "clients": "one per thread (2 annotator users x 2 clients)",
                "annotators": sorted(first.annotators),
                "simulated_error_rate": args.error_rate,
                "note": "not part of the pull figures: no bulk annotation endpoint in Label Studio's free edition",
            },
            "changes_write_s": round(changes_s, 2),
            "prelabel_acceptance": round(float(np.mean(accepted)), 4) if accepted else None,
            "setup": {
                **setup,
                "note": "not part of the figures",
                "rows_read": ingested.rows_read,
                "items": ingested.items_added,
                "duplicates": ingested.duplicates,
                "quarantined": ingested.quarantined,
                "source_labels": args.labelled,
                "labels_imported": ingested.labels_imported,
                "model_version": rnd.model_version,
                "train_items": trained.train_items,
            },
        }
    finally:
        if project is not None:
            project.close()
        with Timer() as t:
            stopped = server.stop(ls_cfg)
        say(f"server stopped ({stopped}) in {t.s:.1f} s")
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["command"] = " ".join([".venv/bin/python", "scripts/bench_labelstudio.py", *sys.argv[1:]])
    result["run_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["total_wall_s"] = round(time.perf_counter() - t_script, 1)
    result["machine"] = {
        **machine_facts(),
        "loadavg_before": load_before,
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "note": "2 cores shared with other engineers' jobs: expect noise; one run",
    }
    result["dataset"] = str(args.dataset)
    return result


def markdown(r: dict[str, Any]) -> str:
    m, s, a = r["machine"], r["setup"], r["annotate"]
    inc = r["incremental_breakdown"]
    lines = [
        "# Label Studio round trip (engine push / pull)",
        "",
        f"Run {r['run_at']} on {m['cpus']} CPUs ({m['machine']}), {m['mem_total_gib']} GiB; Label Studio "
        f"{m['label_studio']} (SQLite, Django dev server) + label-studio-sdk {m['label_studio_sdk']}, all on one "
        f"machine. Load average (1, 5, 15 min) before/after {m['loadavg_before']} / {m['loadavg_after']}: the cores "
        "are shared with other work, so expect noise. One run.",
        f"Command: `{r['command']}` (total {r['total_wall_s']} s, set-up included).",
        "",
        "Through `Project.push_round` / `Project.pull` (the engine's code paths, store writes included). Project "
        f"over mr_polarity with {s['source_labels']} source labels, trained (`logreg`, MiniLM embeddings) and "
        f"pre-labelled; one `random` round of {r['push_tasks']:,} tasks, every one with a pre-label.",
        "",
        "| measurement | value |",
        "|---|---:|",
        f"| push {r['push_tasks']:,} tasks with pre-labels | {r['push_s']:.2f} s |",
        f"| push rate | **{r['push_tasks_per_s']:,.0f} tasks/s** |",
        f"| re-push of the same round (creates nothing: {r['repush_newly_recorded']} new, "
        f"{r['repush_tasks_on_server_after']:,} tasks on the server) | {r['repush_s']:.2f} s |",
        f"| full pull (no cursor): {r['full_pull_changed_tasks']:,} tasks listed + exported, "
        f"{r['full_pull_annotations']:,} annotations → {r['full_pull_events_written']:,} events | "
        f"**{r['full_pull_s']:.2f} s** |",
        f"| incremental pull: {r['incremental_changes']} changes ({inc['new']} new, {inc['edited']} edited, "
        f"{inc['deleted']} deleted) among {r['pool_tasks_in_project']:,} tasks → "
        f"{r['incremental_pull_events_written']} events | **{r['incremental_pull_s']:.2f} s** |",
        f"| incremental / full | **{r['incremental_vs_full_ratio']:.3f}** |",
        f"| pull with nothing changed → {r['noop_pull_events_written']} events | {r['noop_pull_s']:.2f} s |",
        "",
        f"With no cursor the first pull lists and exports every task of the project, annotated or not "
        f"({r['full_pull_changed_tasks'] - r['full_pull_annotations']:,} of {r['full_pull_changed_tasks']:,} had no "
        "annotation), so its time grows with the project's task count, not with the annotations (not broken down "
        "further in this run). The incremental pull lists only tasks changed since the cursor; its floor is the pull "
        "with nothing changed.",
        "",
        "Asserted in the run: push created exactly the round's tasks, all with pre-labels; the re-push created no task "
        "(store and server counts); the full pull wrote one event per annotation; the incremental pull's "
        "new/edited/deleted counts and events match the changes made; a third pull wrote 0 events; deleted "
        "annotations no longer label their items and edits changed them.",
        "",
        "Not part of the figures (set-up, timed apart):",
        "",
        f"- Fresh server, first boot on an empty data dir (migrations): {s['server_first_boot_s']} s; "
        f"2 annotator users: {s['annotator_users_s']} s.",
        f"- ingest {s['ingest_s']} s, train {s['train_s']} s, prelabel {s['prelabel_s']} s, select {s['select_s']} s.",
        f"- {a['annotations']:,} annotations written by the simulated annotator in {a['seconds']} s "
        f"({a['per_s']}/s) with a pool of {a['threads']} threads, each with its own client (2 users × 2 clients): "
        f"Label Studio's free edition has no bulk annotation endpoint. The {r['incremental_changes']} changes took "
        f"{r['changes_write_s']} s to write.",
        f"- Pre-label acceptance in the pulled events (simulated error rate {a['simulated_error_rate']}): "
        f"{r['prelabel_acceptance']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--annotations", type=int, default=1_000)
    parser.add_argument("--new", type=int, default=30)
    parser.add_argument("--edits", type=int, default=15)
    parser.add_argument("--deletes", type=int, default=5)
    parser.add_argument("--labelled", type=int, default=100, help="source rows that keep their label")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server data, store)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # a "no LOCATION recognizer" warning per row
    result = run(args)
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "labelstudio.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "labelstudio.md").write_text(markdown(result))
    say(f"wrote {args.out / 'labelstudio.json'} and {args.out / 'labelstudio.md'}")


if __name__ == "__main__":
    main()
