"""The Ray-job scheduling recipe for real: a private local Ray head node (``ray start --head`` with its job server,
on 127.0.0.1, free ports, its own temp dir) runs ``labelloop cycle --json`` submitted by ``scripts/ray_job.sh``
(``ray job submit -- labelloop cycle ...``) against a real Label Studio.

The first job runs the cycle (ingest, train, push); the second finds nothing new (exit 10); a job with a corrupt config
exits 2. Each time the script's exit code is labelloop's own, read back from the job server (``ray job submit`` alone
says 1 for every failure), the job's status on the server agrees, and the Label Studio task count is compared."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.engine.api import Project
from labelloop.engine.config import load_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = REPO / ".venv" / "bin"
RAY_JOB = REPO / "scripts" / "ray_job.sh"
LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
TOKEN_ENV = "LL_TEST_RAYJOB_LS_TOKEN"

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def _base_env(ls_token: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        TOKEN_ENV: ls_token,
    }


@pytest.fixture(scope="module")
def ray_job_server(ls_server: server.ServerConfig) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-node Ray cluster with its job server; the job inherits this environment (the Label Studio token).
    Stopped by its pid and process group (never ``ray stop``, which ends every Ray process on the machine)."""
    ray = VENV_BIN / "ray"
    if not (VENV_BIN / "python").exists():
        raise RuntimeError(f"no virtualenv at {VENV_BIN}: make venv")
    tmp = Path(tempfile.mkdtemp(prefix="llrayjob-"))  # short: Ray's unix socket paths must stay under 107 bytes
    env = _base_env(server.admin_token(ls_server))
    dash = _free_port()
    cmd = [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={_free_port()}"]
    cmd += ["--num-cpus=1", "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"]
    cmd += [f"--object-store-memory={256 * 1024 * 1024}", f"--temp-dir={tmp}", "--disable-usage-stats"]
    log_file = (tmp / "head.log").open("w")
    head = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                _get_json(f"{address}/api/version")
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Ray head did not start: {(tmp / 'head.log').read_text()[-3000:]}") from None
                time.sleep(1)
        yield address, env
    finally:
        head.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # anything of that node still running
        head.wait()
        log_file.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _write_config(root: Path, datasets_dir: Path, key: str, url: str) -> Path:
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(40, random_state=11).copy()
    test = df[df.split == "test"].sample(10, random_state=11)
    train.loc[train.index[16:], "label"] = ""  # 16 labelled train items; the rest is the pool
    incoming = root / "incoming"
    incoming.mkdir()
    pd.concat([train, test]).to_csv(incoming / "batch-1.csv", index=False)
    config = root / "cycle.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "project": "rayjob",
                "task": {"labels": LABELS},
                "source": {"path": str(incoming / "batch-1.csv"), "label_field": "label", "split_field": "split"},
                "privacy": {"spacy_model": None, "workers": 1},
                "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                "rounds": {"strategy": "margin", "batch_size": 4, "cold_start_strategy": "kmeans"},
                "labelstudio": {"url": url, "project_key": key, "token_env": TOKEN_ENV},
                "cycle": {"incoming": str(incoming / "*.csv")},
            }
        )
    )
    return config


def _submit(config: Path, workdir: Path, address: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    """Run scripts/ray_job.sh; returns its exit code, the cycle's JSON summary from the job's log, and the job id."""
    r = subprocess.run(
        ["bash", str(RAY_JOB), str(config), str(workdir)],
        env={**env, "RAY_ADDRESS": address},
        capture_output=True,
        text=True,
        timeout=400,
    )
    summaries = []
    for line in r.stdout.splitlines():
        if line.startswith("{") and '"exit_code"' in line:
            summaries.append(json.loads(line))
    assert summaries, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    job_ids = [w for w in r.stderr.split() if w.startswith("labelloop-cycle-")]
    assert job_ids, r.stderr[-3000:]
    return r.returncode, summaries[0], job_ids[-1]


def _ls_tasks(config: Path, workdir: Path, client: LabelStudioClient) -> tuple[int, int]:
    """(tasks in Label Studio, tasks the store recorded as pushed)."""
    with Project(load_config(config), workdir=workdir) as p:
        pid = ensure_project(client, p.config)
        return len(client.pushed_item_ids(pid)), len(p.store.pushed_tasks(pid))


def test_ray_job_submit_runs_the_cycle_then_a_noop_and_carries_the_exit_code(
    tmp_path: Path,
    datasets_dir: Path,
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    ray_job_server: tuple[str, dict[str, str]],
) -> None:
    address, env = ray_job_server
    config = _write_config(tmp_path, datasets_dir, project_key, ls_server.url)
    workdir = tmp_path / "w"
    with Project(load_config(config), workdir=workdir) as p:
        p.init()

    rc, summary, job = _submit(config, workdir, address, env)
    assert rc == ExitCode.OK, summary
    assert summary["exit_code"] == 0 and summary["outcome"] == "done", summary
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["ingest"]["status"] == "done" and steps["ingest"]["counts"]["items_added"] == 50
    assert steps["train"]["status"] == "done" and steps["push"]["counts"]["tasks"] == 4
    assert summary["model_versions"]["serving_after"] == summary["model_versions"]["candidate"]
    info = _get_json(f"{address}/api/jobs/{job}")
    assert (info["status"], info["driver_exit_code"]) == ("SUCCEEDED", 0)
    assert _ls_tasks(config, workdir, ls_client) == (4, 4)

    # Right after: nothing new. Ray calls the job FAILED (any non-zero exit) and `ray job submit` exits 1; the
    # script hands on labelloop's 10, which a scheduler treats as "fine, nothing to do".
    rc, summary, job = _submit(config, workdir, address, env)
    assert rc == ExitCode.NOTHING_TO_DO, summary
    assert summary["outcome"] == "nothing_to_do" and summary["exit_name"] == "NOTHING_TO_DO"
    assert {s["status"] for s in summary["steps"]} <= {"noop", "skipped"}, summary
    info = _get_json(f"{address}/api/jobs/{job}")
    assert (info["status"], info["driver_exit_code"]) == ("FAILED", ExitCode.NOTHING_TO_DO)
    assert _ls_tasks(config, workdir, ls_client) == (4, 4)  # no task pushed twice

    # A corrupt config: exit 2 through the job, with the key path in the summary's message.
    raw = yaml.safe_load(config.read_text())
    raw["cycle"]["promotion_margn"] = 0.1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    rc, summary, job = _submit(bad, workdir, address, env)
    assert rc == ExitCode.BAD_INPUT, summary
    assert "cycle.promotion_margn" in summary["message"]
    assert _get_json(f"{address}/api/jobs/{job}")["driver_exit_code"] == ExitCode.BAD_INPUT
