"""A small TREC cycle project and the counts the cycle's fault tests compare, shared by those test modules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.config import load_config
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.loop import CycleSummary, run_cycle

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
A = "ann.one@labelloop.test"


class CycleEnv:
    """One cycle project: its config file, a workdir, the incoming folder and every item's true label.

    ``train`` / ``test`` TREC rows sampled with ``seed``; the first ``labelled`` train rows keep their label (the rest
    is the pool); ``first`` train rows arrive in ``batch-1.csv`` with the test rows, the others later as a second
    file (:meth:`add_second_file`)."""

    def __init__(
        self,
        root: Path,
        datasets_dir: Path,
        key: str,
        url: str,
        *,
        name: str,
        token_env: str,
        train: int,
        test: int,
        labelled: int,
        first: int,
        seed: int,
        batch_size: int,
        push_chunk: int,
    ) -> None:
        df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
        tr = df[df.split == "train"].sample(train, random_state=seed).copy()
        te = df[df.split == "test"].sample(test, random_state=seed)
        self.truth = dict(zip(pd.concat([tr, te]).id.astype(str), pd.concat([tr, te]).label, strict=True))
        tr.loc[tr.index[labelled:], "label"] = ""
        self.incoming = root / "incoming"
        self.incoming.mkdir()
        pd.concat([tr.iloc[:first], te]).to_csv(self.incoming / "batch-1.csv", index=False)
        self.later = tr.iloc[first:]
        self.config_path = root / "cycle.yaml"
        self.workdir = root / "w"
        self.db = self.workdir / "labelloop.db"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "project": name,
                    "task": {"labels": LABELS},
                    "source": {
                        "path": str(self.incoming / "batch-1.csv"),
                        "label_field": "label",
                        "split_field": "split",
                    },
                    "privacy": {"spacy_model": None, "workers": 1},
                    "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                    "rounds": {"strategy": "margin", "batch_size": batch_size, "cold_start_strategy": "kmeans"},
                    "labelstudio": {"url": url, "project_key": key, "token_env": token_env, "push_chunk": push_chunk},
                    "cycle": {"incoming": str(self.incoming / "*.csv")},
                }
            )
        )

    def project(self) -> Project:
        return Project(load_config(self.config_path), workdir=self.workdir)

    def add_second_file(self) -> None:
        self.later.to_csv(self.incoming / "batch-2.csv", index=False)


def cycle(env: CycleEnv, client: LabelStudioClient | None = None) -> CycleSummary:
    with env.project() as p:
        return run_cycle(p, client=client)


def statuses(summary: CycleSummary) -> dict[str, str]:
    return {s.step: s.status for s in summary.steps}


def annotate_waiting(
    env: CycleEnv, annotators: dict[str, LabelStudioClient], ls_client: LabelStudioClient, *, seed: int
) -> int:
    """The simulated annotator answers every task in Label Studio that has no annotation yet; returns how many."""
    with env.project() as p:
        pid = ensure_project(ls_client, p.config)
        answered = {e["item_id"] for e in p.store.label_events() if e["source"] == "human"}
        ext = {it["id"]: it["external_id"] for it in p.store.items(columns=("id", "external_id"))}
        in_ls = ls_client.pushed_item_ids(pid)
        annotated = {t.item_id for t in ls_client.pull_changes(pid, None)[0] if t.annotations}
        waiting = {i: t for i, t in in_ls.items() if i not in answered and i not in annotated}
        sim = SimulatedAnnotator({A: annotators[A]}, pid, LABELS, error_rate=0.0, lead_time_s=(1.0, 2.0), seed=seed)
        return len(sim.annotate(waiting, {i: env.truth[ext[i]] for i in waiting}))


def counts(env: CycleEnv, ls_client: LabelStudioClient) -> dict[str, Any]:
    """What must never be lost or duplicated, read from both sides."""
    with env.project() as p:
        pid = ensure_project(ls_client, p.config)
        events = [e for e in p.store.label_events() if e["source"] == "human"]
        recorded = p.store.pushed_tasks(pid)
        return {
            "ls_tasks": len(ls_client.pushed_item_ids(pid)),
            "recorded_tasks": len(recorded),
            "recorded_unique_items": len({t["item_id"] for t in recorded}),
            "round_items": sum(len(r["picked_item_ids"]["item_ids"]) for r in p.store.rounds()),
            "human_events": len(events),
            "duplicate_event_keys": sum(n - 1 for n in Counter(e["external_id"] for e in events).values()),
            "ls_annotations": sum(len(t.annotations) for t in ls_client.pull_changes(pid, None)[0]),
            "items": p.store.counts().items,
            "label_events": len(p.store.label_events()),
        }


def assert_consistent(c: dict[str, Any]) -> None:
    assert c["ls_tasks"] == c["recorded_tasks"] == c["recorded_unique_items"] == c["round_items"], c
    assert c["duplicate_event_keys"] == 0, c
    assert c["human_events"] == c["ls_annotations"], c  # no annotation lost, none pulled twice
