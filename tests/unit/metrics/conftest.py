"""A real SQLite store with two rounds, pushed tasks and label events whose times are set by hand, so every
operations metric can be worked out on paper (see ``tests/unit/metrics/test_ops.py``).

Round 1 (margin, pushed T0): items a1..a4 as Label Studio tasks 101..104 of project 10, pre-labelled by mv1
(a1 pos, a2 pos, a3 neg, a4 neg). Round 2 (typiclust, pushed T0 + 1 day): a5, a6 as tasks 105, 106, no pre-label.

=====  =========  ====================  =====  =========  ====================================================
item   annotator  event_at (from T0)    lead   label      note
=====  =========  ====================  =====  =========  ====================================================
a1     alice      +60 s                 10     pos        pre-label pos kept
a2     alice      +90 s                 5      pos        first answer, edited below
a2     alice      +120 s                20     neg        the edit: pre-label pos changed
a3     bob        +3600 s               30     neg        pre-label neg kept
a1     bob        +3700 s               40     pos        second annotator (overlap)
a5     carol      +1 day +30 s          8      (skip)
a6     carol      +1 day +50 s          12     pos
a6     dave       +1 day +60 s          9      neg        retracted by dave's next event
a4     (model)                                 neg        auto-label
a5     (import)                                pos
=====  =========  ====================  =====  =========  ====================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labelloop.engine.store import Store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


@dataclass
class OpsStore:
    store: Store
    ids: dict[str, int]
    rounds: dict[str, int]


def _event(item: int, label: str | None, annotator: str, at: datetime, lead: float | None, *, round_id: int,
           task: int | None, prelabel: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "item_id": item, "label": label, "source": "human", "annotator": annotator, "tool": "label-studio",
        "event_at": at, "lead_time_s": lead, "round_id": round_id, "ext_project_id": 10 if task else None,
        "ext_task_id": task, "prelabel": prelabel, "model_version_id": "mv1" if prelabel else None,
        "prelabel_accepted": (label == prelabel) if label is not None and prelabel is not None else None, **extra,
    }  # fmt: skip


def _h(name: str) -> str:
    return hashlib.sha256(f"h-{name}".encode()).hexdigest()


@pytest.fixture
def ops_store(tmp_path: Path) -> Iterator[OpsStore]:
    store = Store.create(f"sqlite:///{tmp_path / 'labelloop.db'}")
    run = store.start_ingest_run("t.csv", "csv", None)
    names = ["a1", "a2", "a3", "a4", "a5", "a6"]
    hashes = store.add_items(
        [{"identity_hash": _h(n), "content_hash": f"c-{n}", "text": f"text {n}", "external_id": n,
          "source": "t.csv", "source_line": i + 2, "ingest_run_id": run} for i, n in enumerate(names)]
    )  # fmt: skip
    ids = {n: hashes[_h(n)] for n in names}
    r1 = store.add_round(
        {
            "strategy": "margin",
            "params": {},
            "seed": 0,
            "model_version_id": None,
            "picked_item_ids": {"item_ids": [ids[n] for n in names[:4]]},
            "created_at": T0,
        }
    )
    r2 = store.add_round({"strategy": "typiclust", "params": {}, "seed": 1,
                          "picked_item_ids": {"item_ids": [ids["a5"], ids["a6"]]}, "created_at": T1})  # fmt: skip
    store.set_round_state(r1, "pushed", pushed_at=T0)
    store.set_round_state(r2, "pushed", pushed_at=T1)
    pre = {"a1": "pos", "a2": "pos", "a3": "neg", "a4": "neg"}
    store.add_pushed_tasks(
        [{"item_id": ids[n], "round_id": r1, "ls_project_id": 10, "task_id": 101 + i, "prelabel": pre[n],
          "prelabel_model_version": "mv1", "prelabel_score": 0.8, "pushed_at": T0} for i, n in enumerate(names[:4])]
        + [{"item_id": ids[n], "round_id": r2, "ls_project_id": 10, "task_id": 105 + i, "prelabel": None,
            "prelabel_model_version": None, "prelabel_score": None, "pushed_at": T1}
           for i, n in enumerate(["a5", "a6"])]
    )  # fmt: skip
    s = timedelta(seconds=1)
    store.append_label_events(
        [
            _event(ids["a1"], "pos", "alice", T0 + 60 * s, 10, round_id=r1, task=101, prelabel="pos"),
            _event(ids["a2"], "pos", "alice", T0 + 90 * s, 5, round_id=r1, task=102, prelabel="pos"),
            _event(ids["a2"], "neg", "alice", T0 + 120 * s, 20, round_id=r1, task=102, prelabel="pos"),
            _event(ids["a3"], "neg", "bob", T0 + 3600 * s, 30, round_id=r1, task=103, prelabel="neg"),
            _event(ids["a1"], "pos", "bob", T0 + 3700 * s, 40, round_id=r1, task=101, prelabel="pos"),
            _event(ids["a5"], None, "carol", T1 + 30 * s, 8, round_id=r2, task=105),
            _event(ids["a6"], "pos", "carol", T1 + 50 * s, 12, round_id=r2, task=106),
            _event(ids["a6"], "neg", "dave", T1 + 60 * s, 9, round_id=r2, task=106),
            {"item_id": ids["a4"], "label": "neg", "source": "model", "tool": "labelloop", "model_version_id": "mv1",
             "confidence": 0.99, "event_at": T1},
            {"item_id": ids["a5"], "label": "pos", "source": "import", "tool": "t.csv", "event_at": T0},
        ]
    )  # fmt: skip
    dave = next(e for e in store.label_events(ids["a6"]) if e["annotator"] == "dave")
    store.append_label_events(
        [_event(ids["a6"], None, "dave", T1 + 70 * s, None, round_id=r2, task=106, retracts_event_id=dave["id"])]
    )
    try:
        yield OpsStore(store, ids, {"r1": r1, "r2": r2})
    finally:
        store.close()
