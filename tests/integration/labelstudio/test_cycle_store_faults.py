"""The cycle when its database is locked or unreachable, against a real Label Studio.

* SQLite store write-locked by another connection (``BEGIN EXCLUSIVE``) when the cycle starts: the ``labelloop
  cycle`` process waits the busy timeout (``LABELLOOP_SQLITE_BUSY_TIMEOUT_S``, 1 s here), exits 4 naming the store,
  and writes nothing; once the lock is released the re-run completes.
* The same lock taken in the middle of a step: right after Label Studio imported a chunk of tasks (mid-push) and
  right after it exported the annotations (mid-pull). Exit 4, then a re-run resumes; tasks in Label Studio = tasks
  recorded = round items, human label events = annotations in Label Studio, no event twice.
* PostgreSQL on a closed port: exit 4 with the host and port named, the password never echoed, nothing written.

Counts are read from both sides before and after each fault."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.config import load_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.loop import CycleSummary, run_cycle
from labelloop.engine.store.db import BUSY_TIMEOUT_ENV

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
A = "ann.one@labelloop.test"
TOKEN_ENV = "LL_TEST_STOREFAULT_LS_TOKEN"

pytestmark = pytest.mark.integration


class Env:
    """A small cycle project (TREC): config, workdir, incoming folder, every item's true label."""

    def __init__(self, root: Path, datasets_dir: Path, key: str, url: str) -> None:
        df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
        train = df[df.split == "train"].sample(50, random_state=7).copy()
        test = df[df.split == "test"].sample(10, random_state=7)
        self.truth = dict(zip(pd.concat([train, test]).id.astype(str), pd.concat([train, test]).label, strict=True))
        train.loc[train.index[16:], "label"] = ""
        self.incoming = root / "incoming"
        self.incoming.mkdir()
        pd.concat([train.iloc[:40], test]).to_csv(self.incoming / "batch-1.csv", index=False)
        self.later = train.iloc[40:]
        self.config_path = root / "cycle.yaml"
        self.workdir = root / "w"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "project": "storefault",
                    "task": {"labels": LABELS},
                    "source": {
                        "path": str(self.incoming / "batch-1.csv"),
                        "label_field": "label",
                        "split_field": "split",
                    },
                    "privacy": {"spacy_model": None, "workers": 1},
                    "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                    "rounds": {"strategy": "margin", "batch_size": 4, "cold_start_strategy": "kmeans"},
                    "labelstudio": {"url": url, "project_key": key, "token_env": TOKEN_ENV, "push_chunk": 2},
                    "cycle": {"incoming": str(self.incoming / "*.csv")},
                }
            )
        )
        self.db = self.workdir / "labelloop.db"

    def project(self) -> Project:
        return Project(load_config(self.config_path), workdir=self.workdir)

    def add_second_file(self) -> None:
        self.later.to_csv(self.incoming / "batch-2.csv", index=False)


@pytest.fixture
def env(
    tmp_path: Path,
    datasets_dir: Path,
    project_key: str,
    ls_server: server.ServerConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    monkeypatch.setenv(TOKEN_ENV, server.admin_token(ls_server))
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "1")
    e = Env(tmp_path, datasets_dir, project_key, ls_server.url)
    with e.project() as p:
        p.init()
    assert e.db.is_file(), f"expected the SQLite store at {e.db}"
    yield e


class WriteLock:
    """Another connection holding the SQLite store's write lock (``BEGIN EXCLUSIVE``) until released."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        self.held = False

    def hold(self) -> None:
        self.conn.execute("BEGIN EXCLUSIVE")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.conn.execute("ROLLBACK")
            self.held = False

    def close(self) -> None:
        self.release()
        self.conn.close()


def _cycle(env: Env, client: LabelStudioClient | None = None) -> CycleSummary:
    with env.project() as p:
        return run_cycle(p, client=client)


def _statuses(summary: CycleSummary) -> dict[str, str]:
    return {s.step: s.status for s in summary.steps}


def _annotate_waiting(env: Env, annotators: dict[str, LabelStudioClient], ls_client: LabelStudioClient) -> int:
    """The simulated annotator answers every task in Label Studio without an annotation; returns how many."""
    with env.project() as p:
        pid = ensure_project(ls_client, p.config)
        answered = {e["item_id"] for e in p.store.label_events() if e["source"] == "human"}
        ext = {it["id"]: it["external_id"] for it in p.store.items(columns=("id", "external_id"))}
        in_ls = ls_client.pushed_item_ids(pid)
        annotated = {t.item_id for t in ls_client.pull_changes(pid, None)[0] if t.annotations}
        waiting = {i: t for i, t in in_ls.items() if i not in answered and i not in annotated}
        sim = SimulatedAnnotator({A: annotators[A]}, pid, LABELS, error_rate=0.0, lead_time_s=(1.0, 2.0), seed=3)
        return len(sim.annotate(waiting, {i: env.truth[ext[i]] for i in waiting}))


def _counts(env: Env, ls_client: LabelStudioClient) -> dict[str, Any]:
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


def _assert_consistent(c: dict[str, Any]) -> None:
    assert c["ls_tasks"] == c["recorded_tasks"] == c["recorded_unique_items"] == c["round_items"], c
    assert c["duplicate_event_keys"] == 0, c
    assert c["human_events"] == c["ls_annotations"], c


def _cli_cycle(env: Env, summary_file: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(env.config_path)]
    cmd += ["-w", str(env.workdir), "--json", "--summary-file", str(summary_file)]
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=300)


def test_store_locked_when_the_cycle_starts_exits_4_then_the_rerun_completes(
    env: Env, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    assert _cycle(env).exit_code == ExitCode.OK  # round 1 waiting in Label Studio
    assert _annotate_waiting(env, annotators, ls_client) == 4
    env.add_second_file()  # new work for ingest and pull
    before = _counts(env, ls_client)
    lock = WriteLock(env.db)
    try:
        lock.hold()
        r = _cli_cycle(env, env.workdir / "summary.json")
        assert r.returncode == ExitCode.STORE_UNAVAILABLE, (r.stdout[-2000:], r.stderr[-3000:])
        summary = json.loads(r.stdout)
        assert summary["exit_name"] == "STORE_UNAVAILABLE" and summary["outcome"] == "failed"
        assert f"store sqlite:///{env.db} is locked" in summary["message"], summary["message"]
        assert BUSY_TIMEOUT_ENV in summary["message"] and "(1 s," in summary["message"]
        assert "[SQL:" not in summary["message"]  # one clear line, not SQLAlchemy's statement dump
        assert "is locked" in r.stderr and str(env.db) in r.stderr
        failed = [s for s in summary["steps"] if s["status"] == "failed"]
        assert [s["step"] for s in failed] == ["ingest"], summary["steps"]
        assert _counts(env, ls_client) == before  # nothing written on either side
    finally:
        lock.close()

    resumed = _cycle(env)
    assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
    assert resumed.step("ingest").counts["items_added"] == 10 and resumed.step("pull").counts["new"] == 4
    after = _counts(env, ls_client)
    _assert_consistent(after)
    assert after["items"] == before["items"] + 10
    assert after["human_events"] == before["human_events"] + 4 == after["ls_annotations"]
    assert after["ls_tasks"] == before["ls_tasks"] + resumed.step("push").counts["tasks"]


def _lock_after(lock: WriteLock, fn: Callable[..., Any], *, calls: int) -> Callable[..., Any]:
    """``fn`` that takes the store's write lock after its ``calls``-th call returned (mid-step)."""
    n = {"calls": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        n["calls"] += 1
        if n["calls"] == calls:
            lock.hold()
        return result

    return wrapper


def test_store_locked_mid_push_and_mid_pull_then_the_rerun_resumes(
    env: Env,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = WriteLock(env.db)
    try:
        # Mid-push: Label Studio imported the first chunk of 2 tasks; then the store is locked (the push goes on
        # importing, and fails when it records the tasks in the store).
        client = connect(ls_server.url, server.admin_token(ls_server))
        projects = client._sdk.projects
        monkeypatch.setattr(projects, "import_tasks", _lock_after(lock, projects.import_tasks, calls=1))
        broken = _cycle(env, client)
        assert broken.exit_code == ExitCode.STORE_UNAVAILABLE, broken.as_dict()
        assert _statuses(broken)["push"] == "failed", broken.as_dict()
        assert f"store sqlite:///{env.db} is locked" in broken.message and "step push" in broken.message
        lock.release()
        mid = _counts(env, ls_client)
        # Label Studio holds tasks the store has not recorded: the fault hit between the two sides.
        assert mid["ls_tasks"] >= 2 and mid["recorded_tasks"] < mid["ls_tasks"], mid
        resumed = _cycle(env)
        assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
        assert resumed.resumed_from == broken.run_id and _statuses(resumed)["push"] == "done"
        c = _counts(env, ls_client)
        _assert_consistent(c)
        assert c["ls_tasks"] == 4  # the 2 imported before the lock were not imported again

        # Mid-pull: the annotations are exported from Label Studio; then the store is locked before they are written.
        assert _annotate_waiting(env, annotators, ls_client) == 4
        before = _counts(env, ls_client)
        client = connect(ls_server.url, server.admin_token(ls_server))
        monkeypatch.setattr(client, "_export", _lock_after(lock, client._export, calls=1))
        broken = _cycle(env, client)
        assert broken.exit_code == ExitCode.STORE_UNAVAILABLE, broken.as_dict()
        assert _statuses(broken)["pull"] == "failed" and "is locked" in broken.message
        assert _counts(env, ls_client) == before  # no event half-written, the pull cursor did not move
        lock.release()
        resumed = _cycle(env)
        assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
        assert resumed.step("pull").counts["new"] == 4
        after = _counts(env, ls_client)
        _assert_consistent(after)
        assert after["human_events"] == before["human_events"] + 4
    finally:
        lock.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket is: connection refused


def test_unreachable_postgresql_exits_4_names_the_server_and_writes_nothing(tmp_path: Path) -> None:
    port = _closed_port()
    config = tmp_path / "cycle.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "project": "pgdown",
                "task": {"labels": ["a", "b"]},
                "privacy": {"spacy_model": None, "workers": 1},
                "store": {"url": f"postgresql+psycopg://ll:${{LL_TEST_PG_SECRET}}@127.0.0.1:{port}/labels"},
                "labelstudio": {"url": "http://127.0.0.1:9", "token_env": "LL_TEST_NO_TOKEN"},
                "cycle": {"incoming": str(tmp_path / "in" / "*.csv")},
            }
        )
    )
    workdir = tmp_path / "w"
    summary_file = tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(config), "-w", str(workdir)]
    cmd += ["--json", "--summary-file", str(summary_file)]
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LL_TEST_PG_SECRET": "s3cr3t-pw"}
    r = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=240)
    assert r.returncode == ExitCode.STORE_UNAVAILABLE, (r.stdout[-2000:], r.stderr[-3000:])
    summary = json.loads(r.stdout)
    assert summary == json.loads(summary_file.read_text())
    assert summary["exit_name"] == "STORE_UNAVAILABLE" and summary["steps"] == []
    assert f"127.0.0.1:{port}/labels" in summary["message"] and "store" in summary["message"]
    assert "refused" in summary["message"].lower(), summary["message"]
    assert "s3cr3t-pw" not in r.stdout + r.stderr + summary_file.read_text()
    # Nothing written: no SQLite fallback store, no state; only the (released) cycle lock file in the workdir.
    written = sorted(p.name for p in workdir.rglob("*")) if workdir.exists() else []
    assert not [n for n in written if n.endswith((".db", ".db-wal", ".db-shm"))], written
    assert set(written) <= {"cycle.lock"}, written


def test_a_bad_busy_timeout_is_a_config_error_naming_the_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "soon")
    summary = _cycle(env)
    assert summary.exit_code == ExitCode.BAD_INPUT, summary.as_dict()
    assert f"{BUSY_TIMEOUT_ENV}: expected seconds between 0 and 3600, got 'soon'" in summary.message
    assert summary.steps == []
