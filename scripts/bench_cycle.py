"""Benchmark of the nightly cycle: wall time per step of a cycle over N items with M new annotations, and the second
(no-op) run's time as a ratio of the first; plus the fault cases, each with lost and duplicated counts measured by
comparing counts read from the store and from Label Studio before the fault and after the re-run: kill -9 at every
step boundary, Label Studio stopped mid-push and mid-pull, a corrupt config, the SQLite store write-locked by another
connection (at the start, and mid-push). Writes bench/cycle.json and bench/cycle.md.

Data: a "kind of text" task (news / question / review) over AG News (test), TREC and MR polarity texts from the
shared datasets; the dataset a text comes from is its true label, which the simulated annotator answers with, through
a real local Label Studio. Set-up (not part of the measured cycle): init, a first cycle that ingests, embeds every
item, trains on the imported seed labels and pushes a round of M tasks; the simulated annotator labels that round.

Fault cases run one after another on the same project after the measured runs (rounds of --fault-annotations items,
selected even while earlier rounds wait), each on fresh work (that many new annotations; a new incoming file before
the ingest kill); killed runs are children forked from one process that imported labelloop once (as in the tests).

    .venv/bin/python scripts/bench_cycle.py --items 20000 --annotations 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
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
    raw_tasks = [t for t in client._list_tasks(pid, "id,data", None) if (t.get("data") or {}).get("item_id")]
    return {
        "items": project.store.counts().items,
        "ls_tasks_raw": len([t for t in raw_tasks if not t["data"].get("requeue")]),
        "ls_tasks": len(client.pushed_item_ids(pid)),
        "recorded_tasks": len(recorded),
        "recorded_unique_items": len({t["item_id"] for t in recorded}),
        "human_events": len(events),
        "duplicate_event_keys": sum(n - 1 for n in Counter(e["external_id"] for e in events).values()),
        "ls_annotations": sum(len(t.annotations) for t in client.pull_changes(pid, None)[0]),
    }


def lost_duplicated(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    """Lost: annotations in Label Studio never recorded as label events, tasks in Label Studio the store does not
    know, items or events that disappeared. Duplicated: an annotation recorded twice, an item with two tasks in Label
    Studio, a task recorded twice, more human events than annotations."""
    lost = max(0, after["ls_annotations"] - after["human_events"])
    lost += max(0, after["ls_tasks"] - after["recorded_unique_items"])
    lost += max(0, before["items"] - after["items"]) + max(0, before["human_events"] - after["human_events"])
    duplicated = after["duplicate_event_keys"] + max(0, after["ls_tasks_raw"] - after["ls_tasks"])
    duplicated += max(0, after["recorded_tasks"] - after["recorded_unique_items"])
    duplicated += max(0, after["human_events"] - after["ls_annotations"])
    return lost, duplicated


# A process that imports labelloop once, then forks one child per cycle run: each child is a real, separate
# `labelloop cycle` process (killed with SIGKILL by the test hook) without paying the imports per run. The forking
# process never runs torch ops, so no thread pool is forked.
ZYGOTE = r"""
import json, os, sys
import labelloop.engine.cli.main as cli
import labelloop.engine.loop.steps, labelloop.engine.training, labelloop.engine.prelabel, labelloop.engine.rounds
import labelloop.engine.quality.assess, labelloop.engine.embedding, transformers, torch
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.environ.update(req["env"])
        try:
            cli.app(args=req["argv"], prog_name="labelloop")
        except SystemExit as e:
            os._exit(e.code if isinstance(e.code, int) else 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    print(json.dumps({"pid": pid, "signal": sig, "code": code}), flush=True)
"""


class Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def run(self, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


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


def run_fault_cases(
    args: argparse.Namespace,
    cfg_path: Path,
    workdir: Path,
    ls: Any,
    client: Any,
    token: str,
    truth: dict[str, str],
    df_extra: pd.DataFrame,
    project: Callable[[], Any],
) -> dict[str, dict[str, Any]]:
    """Every fault case on fresh work; per case lost and duplicated from counts before the fault and after the
    re-run, the faulty run's exit code and the re-run's."""
    from labelloop.connectors.labelstudio import server
    from labelloop.connectors.labelstudio.client import connect
    from labelloop.engine.loop import STEPS, run_cycle
    from labelloop.engine.store.db import BUSY_TIMEOUT_ENV

    raw = yaml.safe_load(cfg_path.read_text())
    raw["rounds"]["batch_size"] = args.fault_annotations
    raw["cycle"]["select_when_pending"] = True  # each fault cycle selects and pushes a new round
    raw["labelstudio"]["push_chunk"] = max(1, args.fault_annotations // 4)  # several imports: a fault can hit between
    cfg_path.write_text(yaml.safe_dump(raw))
    bad_cfg = cfg_path.with_name("corrupt.yaml")
    bad_cfg.write_text(cfg_path.read_text().replace("select_when_pending:", "select_when_pendng:"))
    argv = ["cycle", "-c", str(cfg_path), "-w", str(workdir), "--json"]
    with project() as p:  # the new round size and chunking: one cycle to settle (not a case)
        settle = run_cycle(p)
    log.info("fault phase settle cycle exit=%s", settle.exit_code)
    zygote = Zygote()
    cases: dict[str, dict[str, Any]] = {}

    def case(name: str, fault: Callable[[], dict[str, Any]], *, rerun_client: Any = None) -> None:
        t = time.perf_counter()
        with project() as p:
            written = annotate_waiting(p, client, token, truth, args.fault_annotations)
            before = counts(p, client)
        info = fault()
        with project() as p:
            rerun = run_cycle(p, client=rerun_client)
        with project() as p:
            after = counts(p, client)
        lost, duplicated = lost_duplicated(before, after)
        cases[name] = {
            "lost": lost,
            "duplicated": duplicated,
            **info,
            "rerun_exit_code": rerun.exit_code,
            "rerun_resumed": rerun.resumed_from is not None,
            "new_annotations": written,
            "counts_before": before,
            "counts_after": after,
            "seconds": round(time.perf_counter() - t, 2),
        }
        log.info("fault case %s: %s", name, {k: v for k, v in cases[name].items() if not k.startswith("counts")})

    def forked(env: dict[str, str], cmd: list[str] = argv) -> dict[str, Any]:
        r = zygote.run(cmd, env)
        return {"fault_exit": -r["signal"] if r["signal"] else r["code"]}

    try:
        for step in STEPS:
            if step == "ingest":
                df_extra[["id", "text", "label", "split"]].to_csv(
                    cfg_path.parent / "incoming" / "later.csv", index=False
                )
            case(f"kill9_after_{step}", lambda step=step: forked({"LABELLOOP_CYCLE_KILL_AFTER": step}))

        def stop_after(fn: Callable[..., Any], calls: int) -> Callable[..., Any]:
            n = {"calls": 0}

            def wrapper(*a: Any, **kw: Any) -> Any:
                if n["calls"] == calls:
                    server.stop(ls)
                n["calls"] += 1
                return fn(*a, **kw)

            return wrapper

        def ls_down(patch: Callable[[Any], None]) -> Callable[[], dict[str, Any]]:
            def fault() -> dict[str, Any]:
                broken = connect(ls.url, server.admin_token(ls))
                patch(broken)
                try:
                    with project() as p:
                        out = run_cycle(p, client=broken)
                finally:
                    t = time.perf_counter()
                    server.start(ls, timeout_s=600)
                return {
                    "fault_exit": out.exit_code,
                    "fault_message": out.message,
                    "labelstudio_restart_s": round(time.perf_counter() - t, 2),
                }

            return fault

        def mid_push(c: Any) -> None:
            c._sdk.projects.import_tasks = stop_after(c._sdk.projects.import_tasks, 1)

        def mid_pull(c: Any) -> None:
            c._export = stop_after(c._export, 0)

        case("labelstudio_stopped_mid_push", ls_down(mid_push))
        case("labelstudio_stopped_mid_pull", ls_down(mid_pull))
        bad_argv = ["cycle", "-c", str(bad_cfg), "-w", str(workdir), "--json"]
        case("corrupt_config", lambda: forked({}, bad_argv))

        db = workdir / "labelloop.db"

        def locked_at_start() -> dict[str, Any]:
            holder = sqlite3.connect(db, timeout=30, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                return forked({BUSY_TIMEOUT_ENV: "1"})
            finally:
                holder.execute("ROLLBACK")
                holder.close()

        def locked_mid_push() -> dict[str, Any]:
            holder = sqlite3.connect(db, timeout=30, isolation_level=None)
            broken = connect(ls.url, server.admin_token(ls))
            real = broken._sdk.projects.import_tasks

            def import_then_lock(*a: Any, **kw: Any) -> Any:
                result = real(*a, **kw)
                if not holder.in_transaction:
                    holder.execute("BEGIN EXCLUSIVE")
                return result

            broken._sdk.projects.import_tasks = import_then_lock
            os.environ[BUSY_TIMEOUT_ENV] = "1"
            try:
                with project() as p:
                    out = run_cycle(p, client=broken)
            finally:
                del os.environ[BUSY_TIMEOUT_ENV]
                if holder.in_transaction:
                    holder.execute("ROLLBACK")
                holder.close()
            return {"fault_exit": out.exit_code, "fault_message": out.message}

        case("store_locked_at_start", locked_at_start)
        case("store_locked_mid_push", locked_mid_push)
    finally:
        zygote.close()
    return cases


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
        seed, n_eval = min(300, args.items // 20), min(600, args.items // 10)
        df_all = build_data(args.items + args.fault_annotations, root / "all.csv", seed_labels=seed, eval_items=n_eval)
        df, df_extra = df_all.head(args.items), df_all.iloc[args.items :]
        df[["id", "text", "label", "split"]].to_csv(data, index=False)
        truth = dict(zip(df_all["id"], df_all["kind"], strict=True))
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

        fault = run_fault_cases(args, cfg_path, workdir, ls, client, token, truth, df_extra, project)

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
        "Fault cases, one after another on the same project (rounds of"
        f" {args.fault_annotations}): counts read from the store and from Label Studio before the fault and after the"
        " re-run. `fault exit`: the faulty run's exit code (-9: killed by SIGKILL; 7: Label Studio unreachable;"
        " 2: bad config; 4: store locked); the re-run must exit 0.",
        "",
        "| fault case | fault exit | re-run exit | new annotations | lost | duplicated | seconds |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {k} | {v['fault_exit']} | {v['rerun_exit_code']} | {v['new_annotations']} | {v['lost']} |"
            f" {v['duplicated']} | {v['seconds']:.1f} |"
            for k, v in fault.items()
        ),
        "",
    ]
    (args.out / "cycle.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
