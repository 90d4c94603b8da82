"""``labelloop cycle`` through a real Label Studio: a full cycle, the no-op re-run (exit 10), promotion decisions,
``kill -9`` at every step boundary then a resumed re-run, and Label Studio stopped mid-push and mid-pull. In every
case the counts are compared: tasks in Label Studio, recorded tasks, human label events, annotations written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.engine.api import Project
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.loop import STEPS
from labelloop.engine.loop.cycle import CycleContext, load_state
from labelloop.engine.loop.steps import step_promote

from .cycle_harness import CycleEnv, annotate_waiting, assert_consistent, counts, cycle, statuses

TOKEN_ENV = "LL_TEST_LS_TOKEN"


class Env(CycleEnv):
    """The cycle test project: 100 TREC questions (24 labelled train, 20 test), 20 of them in a second file."""

    def __init__(self, root: Path, datasets_dir: Path, key: str, url: str) -> None:
        super().__init__(
            root,
            datasets_dir,
            key,
            url,
            name="cycle",
            token_env=TOKEN_ENV,
            train=80,
            test=20,
            labelled=24,
            first=60,
            seed=5,
            batch_size=6,
            push_chunk=3,
        )


@pytest.fixture
def env(
    tmp_path: Path,
    datasets_dir: Path,
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    monkeypatch.setenv(TOKEN_ENV, server.admin_token(ls_server))
    e = Env(tmp_path, datasets_dir, project_key, ls_server.url)
    with e.project() as p:
        p.init()
    yield e


def test_cycle_runs_then_is_a_noop_then_picks_up_new_work(
    env: Env, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    first = cycle(env)
    assert first.exit_code == ExitCode.OK, first.as_dict()
    st = statuses(first)
    assert [s.step for s in first.steps] == list(STEPS)
    assert st["ingest"] == st["train"] == st["promote"] == st["prelabel"] == st["select"] == st["push"] == "done"
    assert first.step("ingest").counts["items_added"] == 80
    assert first.step("push").counts["tasks"] == 6
    mv = first.model_versions
    assert mv["serving_before"] is None and mv["candidate"] == mv["serving_after"] and mv["candidate"]
    assert {g["gate"] for g in first.gates} >= {"min_gold_accuracy", "min_agreement"}

    again = cycle(env)  # right after: nothing new anywhere
    assert again.exit_code == ExitCode.NOTHING_TO_DO, again.as_dict()
    assert set(statuses(again).values()) <= {"noop", "skipped"}, again.as_dict()
    assert statuses(again)["select"] == "skipped" and "waiting" in again.step("select").note
    assert "nothing new" in again.message
    assert_consistent(counts(env, ls_client))

    # New work: the round is answered and a second file arrives. The next cycle pulls, retrains, decides, pushes.
    assert annotate_waiting(env, annotators, ls_client, seed=1) == 6
    env.add_second_file()
    third = cycle(env)
    assert third.exit_code == ExitCode.OK, third.as_dict()
    st = statuses(third)
    assert st["ingest"] == st["pull"] == st["train"] == st["evaluate"] == st["promote"] == st["push"] == "done"
    assert third.step("ingest").counts == {"files_seen": 2, "files_ingested": 1, "items_added": 20, "quarantined": 0}
    assert third.step("pull").counts["new"] == 6
    with env.project() as p:
        cand = p.model(third.model_versions["candidate"])
        decision = cand["metrics"]["promotion"][-1]
        assert decision["serving"] == first.model_versions["serving_after"]
        assert decision["candidate_score"] is not None and decision["serving_score"] is not None
        assert decision["eval_items"] == 20 and decision["margin"] == 0.01
        expected = decision["candidate_score"] >= decision["serving_score"] - 0.01
        assert decision["decision"] == ("promoted" if expected else "kept_serving")
        assert (third.model_versions["serving_after"] == cand["id"]) is expected
    assert cycle(env).exit_code == ExitCode.NOTHING_TO_DO
    assert_consistent(counts(env, ls_client))


def test_promotion_keeps_a_worse_candidate_within_the_margin_rule(env: Env) -> None:
    """The decision rule on two real model versions with given scores: worse by more than the margin → kept; a
    margin wide enough → promoted. Both scores are recorded on the candidate either way."""
    first = cycle(env)
    serving = first.model_versions["serving_after"]
    with env.project() as p:
        extra = pd.DataFrame([{"id": "x1", "text": "Who wrote Hamlet ?", "label": "HUM", "split": "train"}])
        extra_file = env.incoming.parent / "extra.csv"
        extra.to_csv(extra_file, index=False)
        p.ingest(extra_file)
        candidate = p.train(promote=False).model_version
        assert candidate != serving

        def decide(margin: float) -> dict[str, Any]:
            cfg = p.config.model_copy(update={"cycle": p.config.cycle.model_copy(update={"promotion_margin": margin})})
            q = Project(cfg, workdir=env.workdir)
            scores = {candidate: {"accuracy": 0.50, "eval_items": 20}, serving: {"accuracy": 0.70, "eval_items": 20}}
            state = {
                "run": {
                    "candidate": candidate,
                    "evaluation": {"candidate": candidate, "serving": serving, "scores": scores},
                }
            }
            out = step_promote(CycleContext(q, state, None))
            assert out.status == "done"
            q.close()
            return p.model(candidate)["metrics"]["promotion"][-1]

        kept = decide(0.1)
        assert kept["decision"] == "kept_serving" and (kept["candidate_score"], kept["serving_score"]) == (0.5, 0.7)
        assert p.store.serving_model_version()["id"] == serving
        promoted = decide(0.25)
        assert promoted["decision"] == "promoted"
        assert p.store.serving_model_version()["id"] == candidate
        assert len(p.model(candidate)["metrics"]["promotion"]) == 2


def _cli_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _cli(env: Env, *extra: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(env.config_path)]
    cmd += ["-w", str(env.workdir), "--json", *extra]
    return subprocess.run(cmd, env=environ or _cli_env(), capture_output=True, text=True, timeout=300)


# A separate process that imports labelloop (torch, transformers) once and then forks one child per cycle run: each
# child is a real, separate ``labelloop cycle`` process that the hook kills with SIGKILL, without paying ~20-30 s of
# imports on a busy machine per run. The forking process never runs torch ops, so no thread pool is forked.
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
            [sys.executable, "-c", ZYGOTE], env=_cli_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def run(self, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def test_kill_9_at_every_step_boundary_then_resume(
    env: Env, ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient]
) -> None:
    """For each step: new work (the waiting round answered, and before the ingest kill a new file), a cycle process
    killed with SIGKILL right after that step is recorded, then a re-run that resumes after it. Nothing is lost or
    duplicated: tasks in Label Studio = recorded tasks = round items; human events = annotations written."""
    # One round per step boundary plus the first: rounds of 4 keep the 56-item pool from running dry.
    raw = yaml.safe_load(env.config_path.read_text())
    raw["rounds"]["batch_size"] = 4
    env.config_path.write_text(yaml.safe_dump(raw))
    zygote = Zygote()
    try:
        assert cycle(env).exit_code == ExitCode.OK  # round 1 waiting in Label Studio
        written = 0
        argv = ["cycle", "-c", str(env.config_path), "-w", str(env.workdir), "--json"]
        for i, step in enumerate(STEPS):
            written += annotate_waiting(env, annotators, ls_client, seed=1)
            if step == "ingest":
                env.add_second_file()
            killed = zygote.run(argv, {"LABELLOOP_CYCLE_KILL_AFTER": step})
            assert killed["signal"] == signal.SIGKILL, (step, killed)
            with env.project() as p:
                state = load_state(p)
            assert set(state["run"]["completed"]) == set(STEPS[: i + 1]) and not state["run"]["finished"]
            resumed = cycle(env)
            assert resumed.exit_code == ExitCode.OK, (step, resumed.as_dict())
            assert resumed.resumed_from == state["run"]["run_id"]
            assert [s.step for s in resumed.steps if s.carried_over] == list(STEPS[: i + 1])
            c = counts(env, ls_client)
            assert_consistent(c)
            assert c["human_events"] == written, (step, c, written)
            assert c["items"] == 100
        assert cycle(env).exit_code == ExitCode.NOTHING_TO_DO
    finally:
        zygote.close()


def _stop_after(ls_server: server.ServerConfig, fn: Callable[..., Any], *, calls: int) -> Callable[..., Any]:
    """``fn`` that stops the real Label Studio server after its ``calls``-th call (the next request fails)."""
    n = {"calls": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if n["calls"] == calls:
            server.stop(ls_server)
        n["calls"] += 1
        return fn(*args, **kwargs)

    return wrapper


def test_label_studio_stopped_mid_push_and_mid_pull(
    env: Env,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        # Mid-push: the first chunk of 3 tasks is imported, then the server goes away.
        client = connect(ls_server.url, server.admin_token(ls_server))
        projects = client._sdk.projects
        monkeypatch.setattr(projects, "import_tasks", _stop_after(ls_server, projects.import_tasks, calls=1))
        broken = cycle(env, client)
        assert broken.exit_code == ExitCode.SERVICE_UNREACHABLE, broken.as_dict()
        assert statuses(broken)["push"] == "failed" and "unreachable" in broken.message
        server.start(ls_server, timeout_s=300)
        assert len(ls_client.pushed_item_ids(ensure_project(ls_client, env.project().config))) == 3
        resumed = cycle(env)
        assert resumed.exit_code == ExitCode.OK and resumed.resumed_from == broken.run_id
        assert resumed.step("push").counts["tasks"] == 6
        c = counts(env, ls_client)
        assert_consistent(c)
        assert c["ls_tasks"] == 6

        # Mid-pull: the changed tasks are listed, then the server goes away before their export.
        assert annotate_waiting(env, annotators, ls_client, seed=1) == 6
        client = connect(ls_server.url, server.admin_token(ls_server))
        monkeypatch.setattr(client, "_export", _stop_after(ls_server, client._export, calls=0))
        before = counts(env, ls_client)["human_events"]
        broken = cycle(env, client)
        assert broken.exit_code == ExitCode.SERVICE_UNREACHABLE, broken.as_dict()
        assert statuses(broken)["pull"] == "failed"
        server.start(ls_server, timeout_s=300)
        assert counts(env, ls_client)["human_events"] == before  # nothing half-written
        resumed = cycle(env)
        assert resumed.exit_code == ExitCode.OK and resumed.step("pull").counts["new"] == 6
        c = counts(env, ls_client)
        assert_consistent(c)
        assert c["human_events"] == before + 6
    finally:
        server.start(ls_server, timeout_s=300)  # the session's server must be up for the next test


def test_summary_file_and_json_from_the_command_line(env: Env) -> None:
    summary_file = env.workdir / "summaries" / "last.json"
    r = _cli(env, "--summary-file", str(summary_file))
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    printed = json.loads(r.stdout)
    written = json.loads(summary_file.read_text())
    assert printed == written
    assert [s["step"] for s in written["steps"]] == list(STEPS)
    assert {"status", "seconds", "counts", "note"} <= set(written["steps"][0])
    assert written["exit_code"] == 0 and written["exit_name"] == "OK" and written["model_versions"]["serving_after"]
    r2 = _cli(env, "--summary-file", str(summary_file))
    assert r2.returncode == ExitCode.NOTHING_TO_DO
    assert json.loads(summary_file.read_text())["outcome"] == "nothing_to_do"
