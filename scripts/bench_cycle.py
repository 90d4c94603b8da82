"""Benchmark of the nightly cycle: wall time per step of a cycle over N items with M new annotations, and the second
(no-op) run's time as a ratio of the first; plus a fault case (kill -9 after the pull, then resume) with lost and
duplicated counts. Writes bench/cycle.json and bench/cycle.md.

Data: a "kind of text" task (news / question / review) over AG News (test), TREC and MR polarity texts from the
shared datasets; the dataset a text comes from is its true label, which the simulated annotator answers with, through
a real local Label Studio. Set-up (not part of the measured cycle): init, a first cycle that ingests, embeds every
item, trains on the imported seed labels and pushes a round of M tasks; the simulated annotator labels that round.

    .venv/bin/python scripts/bench_cycle.py --items 20000 --annotations 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
log = logging.getLogger("bench_cycle")
ANNOTATOR = "bench.annotator@labelloop.test"


def build_data(n_items: int, out: Path, *, seed_labels: int, eval_items: int) -> pd.DataFrame:
    parts = [
        ("news", pd.read_csv(DATASETS / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)),
        ("question", pd.read_csv(DATASETS / "trec" / "trec.csv", keep_default_na=False)),
        ("review", pd.read_csv(DATASETS / "mr_polarity" / "mr_polarity.csv", keep_default_na=False)),
    ]
    frames = []
    for kind, df in parts:
        frames.append(pd.DataFrame({"id": [f"{kind}-{i}" for i in range(len(df))], "text": df["text"], "kind": kind}))
    df = pd.concat(frames).drop_duplicates("text").sample(frac=1.0, random_state=0).head(n_items).reset_index(drop=True)
    df["split"] = ["test" if i < eval_items else "train" for i in range(len(df))]
    df["label"] = [k if i < eval_items + seed_labels else "" for i, k in enumerate(df["kind"])]
    df[["id", "text", "label", "split"]].to_csv(out, index=False)
    return df


def counts(project: Any, client: Any) -> dict[str, int]:
    from labelloop.engine.labelstudio import ensure_project

    pid = ensure_project(client, project.config)
    recorded = project.store.pushed_tasks(pid)
    events = [e for e in project.store.label_events() if e["source"] == "human"]
    return {
        "ls_tasks": len(client.pushed_item_ids(pid)),
        "recorded_tasks": len(recorded),
        "recorded_unique_items": len({t["item_id"] for t in recorded}),
        "human_events": len(events),
        "duplicate_event_keys": sum(n - 1 for n in Counter(e["external_id"] for e in events).values()),
        "ls_annotations": sum(len(t.annotations) for t in client.pull_changes(pid, None)[0]),
    }


def annotate_waiting(project: Any, client: Any, token: str, truth: dict[str, str], limit: int | None) -> int:
    from labelloop.connectors.labelstudio.client import connect
    from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
    from labelloop.engine.labelstudio import ensure_project

    pid = ensure_project(client, project.config)
    answered = {e["item_id"] for e in project.store.label_events() if e["source"] == "human"}
    ext = {it["id"]: it["external_id"] for it in project.store.items(columns=("id", "external_id"))}
    waiting = {t["item_id"]: t["task_id"] for t in project.store.pushed_tasks(pid) if t["item_id"] not in answered}
    if limit is not None:
        waiting = dict(sorted(waiting.items())[:limit])
    sim = SimulatedAnnotator({ANNOTATOR: connect(client.url, token)}, pid, list(project.config.task.labels), seed=0)
    return len(sim.annotate(waiting, {i: truth[ext[i]] for i in waiting}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--annotations", type=int, default=500)
    ap.add_argument("--fault-annotations", type=int, default=20)
    ap.add_argument("--out", type=Path, default=REPO / "bench")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    from labelloop.connectors.labelstudio import server
    from labelloop.connectors.labelstudio.client import connect
    from labelloop.engine.api import Project
    from labelloop.engine.config import load_config
    from labelloop.engine.loop import run_cycle

    root = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    ls = server.ServerConfig(data_dir=root / "labelstudio", port=server.free_port())
    template = server.ServerConfig().venv_dir / "test-data-template"
    if (template / ".complete").is_file():  # the migrated data dir the test suite keeps: skips a first boot
        import shutil

        shutil.copytree(template, ls.data_dir, ignore=shutil.ignore_patterns("*.lock", ".complete", "users.json"))
    t0 = time.perf_counter()
    server.start(ls, timeout_s=600)
    token = server.ensure_user(ANNOTATOR, ls)
    setup: dict[str, float] = {"labelstudio_start_s": round(time.perf_counter() - t0, 2)}
    try:
        data = root / "incoming" / "items.csv"
        data.parent.mkdir()
        df = build_data(args.items, data, seed_labels=min(300, args.items // 20), eval_items=min(600, args.items // 10))
        truth = dict(zip(df["id"], df["kind"], strict=True))
        cfg_path = root / "cycle.yaml"
        cfg_path.write_text(
            yaml.safe_dump(
                {
                    "project": "bench-cycle",
                    "task": {"labels": ["news", "question", "review"]},
                    "source": {"path": str(data), "label_field": "label", "split_field": "split"},
                    "privacy": {"spacy_model": None, "workers": 1},
                    "model": {"compute": {"backend": "inprocess"}},
                    "rounds": {"strategy": "margin", "batch_size": args.annotations},
                    "labelstudio": {"url": ls.url, "token_env": "BENCH_LS_TOKEN"},
                    "cycle": {"incoming": str(data.parent / "*.csv")},
                }
            )
        )
        os.environ["BENCH_LS_TOKEN"] = server.admin_token(ls)
        workdir = root / "w"
        client = connect(ls.url, server.admin_token(ls))

        def project() -> Project:
            return Project(load_config(cfg_path), workdir=workdir)

        with project() as p:
            p.init()
            t = time.perf_counter()
            first = run_cycle(p)
            setup["setup_cycle_s"] = round(time.perf_counter() - t, 2)
            assert first.exit_code == 0, first.as_dict()
            t = time.perf_counter()
            n_annotated = annotate_waiting(p, client, token, truth, None)
            setup["annotate_s"] = round(time.perf_counter() - t, 2)
            setup["annotation_writes_per_s"] = round(n_annotated / setup["annotate_s"], 2)

        with project() as p:
            nightly = run_cycle(p)
        assert nightly.exit_code == 0, nightly.as_dict()
        with project() as p:
            noop = run_cycle(p)
        assert noop.exit_code == 10, noop.as_dict()

        # Fault case: a few annotations, a cycle killed with SIGKILL right after its pull, then the resumed run.
        with project() as p:
            fault_written = annotate_waiting(p, client, token, truth, args.fault_annotations)
            before = counts(p, client)
        cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(cfg_path), "-w", str(workdir)]
        killed = subprocess.run(
            cmd, env={**os.environ, "LABELLOOP_CYCLE_KILL_AFTER": "pull"}, capture_output=True, text=True
        )
        with project() as p:
            resumed = run_cycle(p)
            after = counts(p, client)
        lost = max(0, before["ls_annotations"] - after["human_events"])
        duplicated = after["duplicate_event_keys"] + max(0, after["ls_tasks"] - after["recorded_unique_items"])
        duplicated += max(0, after["recorded_tasks"] - after["recorded_unique_items"])
        fault = {
            "kill9_after_pull": {
                "lost": lost,
                "duplicated": duplicated,
                "killed_returncode": killed.returncode,
                "resumed_exit_code": resumed.exit_code,
                "new_annotations": fault_written,
                "counts_before": before,
                "counts_after": after,
            }
        }

        steps = {s.step: s.seconds for s in nightly.steps}
        result = {
            "items": args.items,
            "new_annotations": nightly.step("pull").counts.get("new", 0),
            "steps": steps,
            "total_s": nightly.total_s,
            "noop_s": noop.total_s,
            "noop_ratio": round(noop.total_s / nightly.total_s, 4),
            "noop_steps": {s.step: s.seconds for s in noop.steps},
            "fault_cases": fault,
            "setup": setup,
            "nightly_summary": nightly.as_dict(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        }
    finally:
        server.stop(ls)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cycle.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    lines = [
        "# Nightly cycle benchmark",
        "",
        f"Command: `{result['command']}`. Machine: {os.cpu_count()} CPUs shared with other work; 1/5/15-min load"
        f" average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        f"{args.items} items (AG News test, TREC, MR polarity: task = which kind of text), a real local Label Studio,"
        f" {result['new_annotations']} new annotations written by the simulated annotator before the cycle"
        f" ({setup['annotation_writes_per_s']} writes/s).",
        "",
        "| step | nightly cycle (s) | no-op re-run (s) |",
        "|---|---|---|",
        *(f"| {k} | {v:.2f} | {result['noop_steps'].get(k, 0):.2f} |" for k, v in steps.items()),
        f"| **total** | **{result['total_s']:.2f}** | **{result['noop_s']:.2f}** |",
        "",
        f"- No-op re-run / nightly cycle: **{result['noop_ratio']:.4f}** (exit 10, nothing new).",
        f"- Set-up, not in the table: Label Studio start {setup['labelstudio_start_s']} s, first cycle (ingest,"
        f" embed every item, train on the seed labels, push {args.annotations} tasks) {setup['setup_cycle_s']} s,"
        f" annotating {setup['annotate_s']} s.",
        "",
        "| fault case | lost | duplicated |",
        "|---|---|---|",
        *(f"| {k} | {v['lost']} | {v['duplicated']} |" for k, v in fault.items()),
        "",
    ]
    (args.out / "cycle.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
