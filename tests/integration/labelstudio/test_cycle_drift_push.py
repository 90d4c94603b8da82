"""The cycle's drift step and Pushgateway push (issue 9), through a real Label Studio: a batch of news headlines
arriving in a question-labeling project raises a drift alert in the summary, the next round switches to the
configured ``drift.on_alert_strategy``, and the run's metrics reach a (local, recording) Pushgateway."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.engine.api import Project
from labelloop.engine.config import load_config
from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.labelstudio import ensure_project
from labelloop.engine.loop import run_cycle

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
A = "ann.one@labelloop.test"
TOKEN_ENV = "LL_TEST_LS_TOKEN"


class _Gateway(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, int]] = []

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, len(body)))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, *args: object) -> None:  # quiet
        return


def test_drift_alert_switches_the_strategy_and_metrics_are_pushed(
    tmp_path: Path,
    datasets_dir: Path,
    project_key: str,
    ls_server: server.ServerConfig,
    ls_client: LabelStudioClient,
    annotators: dict[str, LabelStudioClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, server.admin_token(ls_server))
    gateway = HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{gateway.server_port}"
    try:
        trec = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
        train = trec[trec.split == "train"].sample(80, random_state=2).copy()
        test = trec[trec.split == "test"].sample(30, random_state=2)
        truth = dict(zip(pd.concat([train, test]).id.astype(str), pd.concat([train, test]).label, strict=True))
        train.loc[train.index[40:], "label"] = ""
        incoming = tmp_path / "incoming"
        incoming.mkdir()
        pd.concat([train, test]).to_csv(incoming / "a-questions.csv", index=False)
        cfg_path = tmp_path / "drift.yaml"
        cfg_path.write_text(
            yaml.safe_dump(
                {
                    "project": "drift-push",
                    "task": {"labels": LABELS},
                    "source": {
                        "path": str(incoming / "a-questions.csv"),
                        "label_field": "label",
                        "split_field": "split",
                    },
                    "privacy": {"spacy_model": None, "workers": 1},
                    "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
                    "rounds": {"strategy": "margin", "batch_size": 5},
                    "labelstudio": {"url": ls_server.url, "project_key": project_key, "token_env": TOKEN_ENV},
                    "cycle": {"incoming": str(incoming / "*.csv")},
                    "drift": {"on_alert_strategy": "drift-weighted", "permutations": 200},
                    "ops": {"pushgateway_url": url},
                }
            )
        )
        with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
            p.init()

        def cycle() -> dict:
            with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
                return run_cycle(p, client=ls_client).as_dict()

        first = cycle()
        assert first["exit_code"] == ExitCode.OK, first
        assert first["pushgateway"] == url
        assert any(
            m == "PUT" and "/metrics/job/labelloop" in path and "drift-push" in path for m, path, _ in _Gateway.seen
        )
        steps = {s["step"]: s for s in first["steps"]}
        assert steps["select"]["counts"]["strategy"] == "margin"

        # The round is answered; then a batch of news headlines arrives: a different domain.
        with Project(load_config(cfg_path), workdir=tmp_path / "w") as p:
            pid = ensure_project(ls_client, p.config)
            ext = {it["id"]: it["external_id"] for it in p.store.items(columns=("id", "external_id"))}
            tasks = {t["item_id"]: t["task_id"] for t in p.store.pushed_tasks(pid)}
        SimulatedAnnotator({A: annotators[A]}, pid, LABELS, seed=1).annotate(tasks, {i: truth[ext[i]] for i in tasks})
        news = pd.read_csv(datasets_dir / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)
        news = news.sample(60, random_state=2)
        pd.DataFrame({"id": [f"news-{i}" for i in range(60)], "text": news["text"].tolist()}).to_csv(
            incoming / "b-news.csv", index=False
        )
        second = cycle()
        assert second["exit_code"] == ExitCode.OK, second
        drift = second["drift"]
        assert drift["alert"] is True and drift["batch_items"] == 60, drift
        assert drift["triggered_strategy"] == "drift-weighted" and drift["report"]["reasons"]
        steps = {s["step"]: s for s in second["steps"]}
        assert steps["drift"]["counts"]["alert"] is True
        assert steps["select"]["counts"]["strategy"] == "drift-weighted"
        assert len(_Gateway.seen) >= 2
    finally:
        gateway.shutdown()
