"""The scheduling recipes, exercised: the cron entry's exact command line (with its log file, then rotated by the
logrotate config), and the Airflow DAG file, import-checked against a small stub of the airflow modules (apache-airflow
itself is not installed: it pins its own dependency tree) and its rendered command run for real. Each run stops at
the store (exit 4: none initialised), which is enough to show the wiring, the exit code and the summary file."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import jinja2
import yaml

from labelloop.engine.exit_codes import ExitCode

REPO = Path(__file__).resolve().parents[3]
CRON = REPO / "scripts" / "cron" / "labelloop.cron"
LOGROTATE = REPO / "scripts" / "cron" / "labelloop.logrotate"
DAG_FILE = REPO / "scripts" / "airflow" / "labelloop_dag.py"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "project.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "project": "recipes",
                "workdir": str(tmp_path / "w"),
                "task": {"labels": ["a", "b"]},
                "privacy": {"spacy_model": None, "workers": 1},
            }
        )
    )
    return path


def _crontab() -> tuple[dict[str, str], str, str]:
    """The crontab's variable assignments, its schedule and its command (fields 6.. of the job line)."""
    env: dict[str, str] = {}
    job = None
    for line in CRON.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if m:
            env[m.group(1)] = m.group(2)
        else:
            assert job is None, "one job line expected"
            job = line
    assert job is not None
    fields = job.split(None, 5)
    return env, " ".join(fields[:5]), fields[5]


def test_the_cron_line_runs_the_cycle_appends_its_log_and_logrotate_rotates_it(tmp_path: Path) -> None:
    env, schedule, command = _crontab()
    assert schedule == "30 2 * * *" and env["SHELL"] == "/bin/bash"
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    env.update(
        LABELLOOP_HOME=str(REPO),
        LABELLOOP_CONFIG=str(_config(tmp_path)),
        LABELLOOP_LOG_DIR=str(log_dir),
        LABELLOOP_BIN=str(Path(sys.executable).with_name("labelloop")),
    )
    # cron runs the command with SHELL and a minimal environment; do the same.
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env}
    for run in (1, 2):
        r = subprocess.run([env["SHELL"], "-c", command], env=cron_env, capture_output=True, text=True, timeout=240)
        assert r.returncode == ExitCode.STORE_UNAVAILABLE, (r.stdout, r.stderr)
        assert r.stdout == r.stderr == ""  # everything went to the log file
        lines = (log_dir / "cycle.log").read_text()
        assert lines.count("labelloop cycle start") == run and lines.count("labelloop cycle end exit=4") == run
        assert "run `labelloop init` first" in lines
    summary = json.loads((log_dir / "cycle-summary.json").read_text())
    assert summary["exit_code"] == 4 and summary["project"] == "recipes"

    # The logrotate config, pointed at this log: a forced rotation keeps the old log and truncates the live one.
    conf = tmp_path / "logrotate.conf"
    text = LOGROTATE.read_text().replace("/var/log/labelloop/cycle.log", str(log_dir / "cycle.log"))
    conf.write_text(text.replace("su root root", f"su {os.getuid()} {os.getgid()}"))
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    r = subprocess.run(
        [logrotate, "-s", str(tmp_path / "state"), "-f", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert (log_dir / "cycle.log.1").read_text().count("labelloop cycle start") == 2
    assert (log_dir / "cycle.log").read_text() == ""


class _Recorder:
    """Stands in for airflow's DAG and BashOperator: records what the DAG file passes them."""

    created: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _Recorder.created.append((type(self).__name__, {"args": args, **kwargs}))

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class DAG(_Recorder):
    pass


class BashOperator(_Recorder):
    pass


def _stub_airflow(monkeypatch: Any) -> None:
    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG  # type: ignore[attr-defined]
    bash = types.ModuleType("airflow.providers.standard.operators.bash")
    bash.BashOperator = BashOperator  # type: ignore[attr-defined]
    for name, mod in {
        "airflow": airflow,
        "airflow.providers": types.ModuleType("airflow.providers"),
        "airflow.providers.standard": types.ModuleType("airflow.providers.standard"),
        "airflow.providers.standard.operators": types.ModuleType("airflow.providers.standard.operators"),
        "airflow.providers.standard.operators.bash": bash,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)


def test_the_airflow_dag_imports_and_its_command_runs_the_cycle(tmp_path: Path, monkeypatch: Any) -> None:
    source = DAG_FILE.read_text()
    ast.parse(source)  # valid Python for any Airflow version
    _stub_airflow(monkeypatch)
    _Recorder.created.clear()
    exec(compile(source, str(DAG_FILE), "exec"), {"__name__": "labelloop_dag"})
    (dag_kind, dag), (op_kind, op) = _Recorder.created
    assert (dag_kind, op_kind) == ("DAG", "BashOperator")
    assert dag["dag_id"] == "labelloop_nightly_cycle" and dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert dag["schedule"] == _crontab()[1]  # the same night slot as the cron recipe
    assert op["skip_on_exit_code"] == [ExitCode.NOTHING_TO_DO] and op["append_env"] is True

    # Render the templated command as Airflow would (Variables, ds) and run it.
    variables = {"labelloop_config": str(_config(tmp_path)), "labelloop_log_dir": str(tmp_path)}

    class Var:
        def __getattr__(self, key: str) -> str:
            return variables[key]

        def get(self, key: str, default: str) -> str:
            return {"labelloop_bin": str(Path(sys.executable).with_name("labelloop")), **variables}.get(key, default)

    command = jinja2.Template(op["bash_command"]).render(var={"value": Var()}, ds="2025-01-02")
    r = subprocess.run(
        ["bash", "-c", command], env={**os.environ, **op["env"]}, capture_output=True, text=True, timeout=240
    )
    assert r.returncode == ExitCode.STORE_UNAVAILABLE, r.stderr
    printed = json.loads(r.stdout)
    assert printed == json.loads((tmp_path / "labelloop-cycle-2025-01-02.json").read_text())
    assert printed["exit_code"] == 4
