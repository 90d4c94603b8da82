"""The Prometheus endpoint and the Pushgateway push: real HTTP on free local ports, parsed with prometheus-client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from labelloop.engine.config import ProjectConfig
from labelloop.engine.metrics.ops import ops_from_store
from labelloop.engine.metrics.prometheus import (
    OpsCollector,
    push_if_configured,
    push_summary,
    registry_for,
    serve,
)

DRIFT = {"alert": True, "mmd": {"p_value": 0.002}, "label_shift": {"psi": 0.31}, "confidence_drop": 0.15}


def _cfg(**ops: Any) -> ProjectConfig:
    return ProjectConfig(project="ops-test", task={"labels": ["pos", "neg"]}, ops=ops)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(sample name, labels): value}`` of an exposition text, through prometheus-client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}  # fmt: skip


def value(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return parsed[(name, frozenset({"project": "ops-test", **labels}.items()))]


def test_exported_values_are_the_ops_metrics(ops_store: Any) -> None:
    ops = ops_from_store(ops_store.store, _cfg(hourly_rate=36.0, per_task_rate=0.5))
    parsed = samples(generate_latest(registry_for(ops, DRIFT, project="ops-test")).decode())
    assert value(parsed, "labelloop_labels_total", source="human") == 5
    assert value(parsed, "labelloop_labels_total", source="model") == 1
    assert value(parsed, "labelloop_answers_total", annotator="carol", kind="skip") == 1
    assert value(parsed, "labelloop_backlog_tasks") == 1
    assert value(parsed, "labelloop_lead_time_seconds", quantile="0.5") == pytest.approx(16.0)
    assert value(parsed, "labelloop_lead_time_seconds", quantile="0.9") == pytest.approx(35.0)
    assert value(parsed, "labelloop_lead_time_seconds_count") == 6
    assert value(parsed, "labelloop_lead_time_seconds_sum") == pytest.approx(120.0)
    assert value(parsed, "labelloop_turnaround_seconds", quantile="0.5") == pytest.approx(60.0)
    assert value(parsed, "labelloop_labels_per_active_hour") == pytest.approx(5 / (228 / 3600))
    assert value(parsed, "labelloop_prelabel_acceptance_ratio") == 0.75
    assert value(parsed, "labelloop_prelabel_acceptance_by_model_ratio", model_version="mv1") == 0.75
    assert value(parsed, "labelloop_auto_label_ratio") == pytest.approx(1 / 6)
    assert value(parsed, "labelloop_cost_per_label", currency="USD") == pytest.approx(0.84)
    assert value(parsed, "labelloop_drift_alert") == 1.0
    assert value(parsed, "labelloop_drift_psi") == pytest.approx(0.31)
    # Not defined yet → not exported (no rate: no cost; no drift check: no drift gauges; no reference: no saving).
    bare = samples(generate_latest(registry_for(ops_from_store(ops_store.store, _cfg()), project="ops-test")).decode())
    names = {name for name, _ in bare}
    assert "labelloop_cost_per_label" not in names and "labelloop_drift_alert" not in names
    assert "labelloop_labels_saved_estimate" not in names


def test_serve_scrapes_over_http_and_refreshes(ops_store: Any) -> None:
    calls: list[int] = []

    def source() -> Any:
        calls.append(1)
        return ops_from_store(ops_store.store, _cfg()), None

    registry = CollectorRegistry()
    registry.register(OpsCollector(source, project="ops-test", min_interval_s=0.0))
    server, thread = serve(registry, port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            first = samples(resp.read().decode())
        assert value(first, "labelloop_backlog_tasks") == 1
        # A new answer to the backlog task shows up in the next scrape.
        ops_store.store.append_label_events(
            [{"item_id": ops_store.ids["a4"], "label": "neg", "source": "human", "annotator": "erin",
              "tool": "label-studio", "round_id": ops_store.rounds["r1"], "ext_project_id": 10, "ext_task_id": 104,
              "lead_time_s": 7.0}]
        )  # fmt: skip
        with urllib.request.urlopen(url, timeout=10) as resp:
            second = samples(resp.read().decode())
        assert value(second, "labelloop_backlog_tasks") == 0
        assert value(second, "labelloop_answers_total", annotator="erin", kind="label") == 1
        assert len(calls) >= 2
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_collector_reuses_a_snapshot_within_the_interval(ops_store: Any) -> None:
    calls: list[int] = []

    def source() -> Any:
        calls.append(1)
        return ops_from_store(ops_store.store, _cfg()), None

    registry = CollectorRegistry()
    registry.register(OpsCollector(source, project="ops-test", min_interval_s=3600.0))
    generate_latest(registry)
    generate_latest(registry)
    assert len(calls) == 1  # registering does not collect (no auto-describe); two scrapes, one read


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, *args: Any) -> None:  # keep test output clean
        return


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Recorder.received
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_push_summary_sends_the_metrics_to_the_gateway(ops_store: Any, gateway: Any) -> None:
    url, received = gateway
    ops = ops_from_store(ops_store.store, _cfg())
    push_summary(url, ops, project="ops-test", drift=DRIFT)
    assert len(received) == 1
    method, path, body = received[0]
    assert (method, path) == ("PUT", "/metrics/job/labelloop/project/ops-test")
    parsed = samples(body.decode())
    assert value(parsed, "labelloop_backlog_tasks") == 1 and value(parsed, "labelloop_drift_alert") == 1.0
    assert push_if_configured(_cfg(), ops) is False
    assert push_if_configured(_cfg(pushgateway_url=url), ops) is True and len(received) == 2


def test_push_to_an_unreachable_gateway_names_it(ops_store: Any) -> None:
    port = _free_port()
    with pytest.raises(OSError, match=rf"push to Pushgateway http://127.0.0.1:{port} failed"):
        push_summary(f"http://127.0.0.1:{port}", ops_from_store(ops_store.store, _cfg()), project="p", timeout=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def project_config(tmp_path: Path) -> Path:
    from labelloop.engine.api import Project

    cfg = tmp_path / "labelloop.yaml"
    cfg.write_text("project: ops-test\nworkdir: state\ntask:\n  labels: [pos, neg]\n"
                   "privacy:\n  spacy_model: null\n  workers: 1\nops:\n  per_task_rate: 0.1\n")  # fmt: skip
    with Project.from_config_file(cfg) as project:
        project.init()
    return cfg


def test_cli_show_and_push(project_config: Path, gateway: Any) -> None:
    from labelloop.engine.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["metrics", "show", "-c", str(project_config), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["overall"]["answers"] == 0 and d["backlog"] == 0 and d["currency"] == "USD"
    url, received = gateway
    res = runner.invoke(app, ["metrics", "push", "-c", str(project_config), "--url", url])
    assert res.exit_code == 0, res.output
    assert received and received[0][1] == "/metrics/job/labelloop/project/ops-test"
    res = runner.invoke(app, ["metrics", "push", "-c", str(project_config)])
    assert res.exit_code != 0 and "no Pushgateway" in res.output


@pytest.mark.slow
def test_cli_serve_in_a_subprocess(project_config: Path) -> None:
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelloop.engine.cli.main", "metrics", "serve", "-c", str(project_config),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        text, deadline = None, time.monotonic() + 90
        while text is None and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"metrics serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    text = resp.read().decode()
            except OSError:
                time.sleep(0.3)
        assert text is not None, "the endpoint never answered"
        parsed = samples(text)
        assert value(parsed, "labelloop_backlog_tasks") == 0
        assert value(parsed, "labelloop_lead_time_seconds_count") == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
