"""``labelloop cycle`` failures a scheduler must tell apart, each by a real process and its exit code: the lock held
by another live process (9, naming it), a corrupt config (2), a store that is missing or unreachable (4); and the
summary file written in every case. No Label Studio is needed: each run stops before the first network step."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from labelloop.engine.exit_codes import ExitCode

HOLD_LOCK = r"""
import sys, time
from labelloop.engine.scheduling.lock import CycleLock
lock = CycleLock(sys.argv[1], command="labelloop cycle (test holder)").acquire()
print("held", flush=True)
time.sleep(120)
"""


def _config(tmp_path: Path, **extra: object) -> Path:
    data = {
        "project": "cyclecli",
        "task": {"labels": ["a", "b"]},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"compute": {"backend": "inprocess"}},
        "labelstudio": {"url": "http://127.0.0.1:9", "token_env": "LL_TEST_NO_TOKEN"},
        **extra,
    }
    path = tmp_path / "cycle.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cycle(config: Path, workdir: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "labelloop.engine.cli.main", "cycle", "-c", str(config), "-w", str(workdir)]
    cmd += ["--summary-file", str(summary)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LL_TEST_PG_PW": "p"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def test_a_second_cycle_exits_at_once_with_9_naming_the_holder(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(workdir / "cycle.lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        summary = tmp_path / "summary.json"
        started = time.monotonic()
        r = _cycle(_config(tmp_path), workdir, summary)
        assert r.returncode == ExitCode.LOCK_HELD, r.stderr
        assert f"pid {holder.pid}" in r.stderr and socket.gethostname() in r.stderr and "since" in r.stderr
        data = json.loads(summary.read_text())
        assert data["exit_code"] == 9 and data["outcome"] == "lock_held" and data["steps"] == []
        assert data["lock_holder"]["pid"] == holder.pid and data["lock_holder"]["command"].endswith("(test holder)")
        assert time.monotonic() - started < 200  # it never waited for the holder's 120 s
    finally:
        holder.kill()
        holder.wait()


def test_corrupt_config_exits_2_with_the_key_path(tmp_path: Path) -> None:
    bad = _config(tmp_path, cycle={"incoming": "in/*.csv", "promotion_margn": 0.1})
    summary = tmp_path / "summary.json"
    r = _cycle(bad, tmp_path / "w", summary)
    assert r.returncode == ExitCode.BAD_INPUT, r.stderr
    assert "cycle.promotion_margn: unknown key" in r.stderr
    assert json.loads(summary.read_text())["exit_code"] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("project: [unclosed\n")
    r = _cycle(broken, tmp_path / "w", summary)
    assert r.returncode == ExitCode.BAD_INPUT and "not valid YAML" in r.stderr


@pytest.mark.parametrize("case", ["missing", "unreachable"])
def test_store_unavailable_exits_4(tmp_path: Path, case: str) -> None:
    url = "postgresql+psycopg://u:${LL_TEST_PG_PW}@127.0.0.1:9/nodb"  # the password comes from the environment
    extra = {} if case == "missing" else {"store": {"url": url}}
    summary = tmp_path / "summary.json"
    r = _cycle(_config(tmp_path, **extra), tmp_path / "w", summary)
    assert r.returncode == ExitCode.STORE_UNAVAILABLE, r.stderr
    data = json.loads(summary.read_text())
    assert data["exit_code"] == 4 and "store" in data["message"]
    assert ("labelloop init" in data["message"]) if case == "missing" else ("127.0.0.1" in data["message"])
