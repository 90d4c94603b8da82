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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.store.db import BUSY_TIMEOUT_ENV

from .cycle_harness import CycleEnv, annotate_waiting, assert_consistent, counts, cycle, statuses

TOKEN_ENV = "LL_TEST_STOREFAULT_LS_TOKEN"


class Env(CycleEnv):
    """The storefault test project: 60 TREC questions (16 labelled train, 10 test), 10 of them in a second file."""

    def __init__(self, root: Path, datasets_dir: Path, key: str, url: str) -> None:
        super().__init__(
            root,
            datasets_dir,
            key,
            url,
            name="storefault",
            token_env=TOKEN_ENV,
            train=50,
            test=10,
            labelled=16,
            first=40,
            seed=7,
            batch_size=4,
            push_chunk=2,
        )


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


def _cli_cycle(env: Env, summary_file: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(env.config_path)]
    cmd += ["-w", str(env.workdir), "--json", "--summary-file", str(summary_file)]
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=300)


def test_store_locked_when_the_cycle_starts_exits_4_then_the_rerun_completes(
    env: Env, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    assert cycle(env).exit_code == ExitCode.OK  # round 1 waiting in Label Studio
    assert annotate_waiting(env, annotators, ls_client, seed=3) == 4
    env.add_second_file()  # new work for ingest and pull
    before = counts(env, ls_client)
    lock = WriteLock(env.db)
    try:
        lock.hold()
        r = _cli_cycle(env, env.workdir / "summary.json")
        assert r.returncode == ExitCode.STORE_UNAVAILABLE, (r.stdout[-2000:], r.stderr[-3000:])
        summary = json.loads(r.stdout)
        assert summary["exit_name"] == "STORE_UNAVAILABLE" and summary["outcome"] == "failed"
        assert f"store sqlite:///{env.db} is locked" in summary["message"], summary["message"]
        assert BUSY_TIMEOUT_ENV in summary["message"] and "(1 s:" in summary["message"]
        assert "[SQL:" not in summary["message"]  # one clear line, not SQLAlchemy's statement dump
        assert "is locked" in r.stderr and str(env.db) in r.stderr
        failed = [s for s in summary["steps"] if s["status"] == "failed"]
        assert [s["step"] for s in failed] == ["ingest"], summary["steps"]
        assert counts(env, ls_client) == before  # nothing written on either side
    finally:
        lock.close()

    resumed = cycle(env)
    assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
    assert resumed.step("ingest").counts["items_added"] == 10 and resumed.step("pull").counts["new"] == 4
    after = counts(env, ls_client)
    assert_consistent(after)
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
        broken = cycle(env, client)
        assert broken.exit_code == ExitCode.STORE_UNAVAILABLE, broken.as_dict()
        assert statuses(broken)["push"] == "failed", broken.as_dict()
        assert f"store sqlite:///{env.db} is locked" in broken.message and "step push" in broken.message
        lock.release()
        mid = counts(env, ls_client)
        # Label Studio holds tasks the store has not recorded: the fault hit between the two sides.
        assert mid["ls_tasks"] >= 2 and mid["recorded_tasks"] < mid["ls_tasks"], mid
        resumed = cycle(env)
        assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
        assert resumed.resumed_from == broken.run_id and statuses(resumed)["push"] == "done"
        c = counts(env, ls_client)
        assert_consistent(c)
        assert c["ls_tasks"] == 4  # the 2 imported before the lock were not imported again

        # Mid-pull: the annotations are exported from Label Studio; then the store is locked before they are written.
        assert annotate_waiting(env, annotators, ls_client, seed=3) == 4
        before = counts(env, ls_client)
        client = connect(ls_server.url, server.admin_token(ls_server))
        monkeypatch.setattr(client, "_export", _lock_after(lock, client._export, calls=1))
        broken = cycle(env, client)
        assert broken.exit_code == ExitCode.STORE_UNAVAILABLE, broken.as_dict()
        assert statuses(broken)["pull"] == "failed" and "is locked" in broken.message
        assert counts(env, ls_client) == before  # no event half-written, the pull cursor did not move
        lock.release()
        resumed = cycle(env)
        assert resumed.exit_code == ExitCode.OK, resumed.as_dict()
        assert resumed.step("pull").counts["new"] == 4
        after = counts(env, ls_client)
        assert_consistent(after)
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
    summary = cycle(env)
    assert summary.exit_code == ExitCode.BAD_INPUT, summary.as_dict()
    assert f"{BUSY_TIMEOUT_ENV}: expected seconds between 0 and 3600, got 'soon'" in summary.message
    assert summary.steps == []
