"""Operations metrics on a real SQLite store whose events were timed by hand (table in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labelloop.engine.config import OpsConfig, ProjectConfig
from labelloop.engine.metrics.ops import compute_ops, estimate_labels_saved, load_random_ratios, ops_from_store

REPO = Path(__file__).resolve().parents[3]


def _cfg(**ops: Any) -> ProjectConfig:
    return ProjectConfig(project="ops-test", task={"labels": ["pos", "neg"]}, ops=ops)


def test_overall_numbers_match_the_hand_computation(ops_store: Any) -> None:
    m = ops_from_store(ops_store.store, _cfg(hourly_rate=36.0, per_task_rate=0.5, currency="EUR"))
    o = m.overall
    # Answers: latest per (item, annotator, round): alice a1, a2 (edit), bob a3, a1, carol a5 (skip), a6.
    assert (o.answers, o.labels, o.skips, o.annotators) == (6, 5, 1, 3)
    assert o.lead_time_s.n == 6
    assert o.lead_time_s.median == pytest.approx(16.0)  # [8, 10, 12, 20, 30, 40]
    assert o.lead_time_s.p90 == pytest.approx(35.0)
    assert o.annotated_hours == pytest.approx(120 / 3600)
    assert o.labels_per_annotated_hour == pytest.approx(5 / (120 / 3600))
    # Sessions: alice [50, 120] s, bob [3570, 3700] s, carol [T1+22, T1+50] s -> 70 + 130 + 28 s.
    assert o.active_hours == pytest.approx(228 / 3600)
    assert o.labels_per_active_hour == pytest.approx(5 / (228 / 3600))
    assert o.labels_per_active_hour < o.labels_per_annotated_hour
    # Turnaround, push -> first answer (a2 from its first version at +90 s): [60, 90, 3600, 30, 50].
    assert o.turnaround_s.n == 5
    assert o.turnaround_s.median == pytest.approx(60.0)
    assert o.turnaround_s.p90 == pytest.approx(90 + 0.6 * 3510)
    assert (o.pushed, o.backlog) == (6, 1)  # a4 never answered
    assert (o.acceptance.shown, o.acceptance.accepted, o.acceptance.rate) == (4, 3, 0.75)
    assert o.cost == pytest.approx(36.0 * 120 / 3600 + 0.5 * 6)
    assert o.cost_per_label == pytest.approx((1.2 + 3.0) / 5)
    assert m.currency == "EUR"
    assert m.labels_by_source == {"adjudication": 0, "gold": 0, "human": 5, "import": 1, "model": 1}
    # Resolved: a1 unanimous, a2 a3 a6 human, a4 model, a5 import.
    assert (m.resolved_labels, m.auto_labels) == (6, 1)
    assert m.auto_label_share == pytest.approx(1 / 6)


def test_per_round_per_annotator_per_day(ops_store: Any) -> None:
    m = ops_from_store(ops_store.store, _cfg())
    r1, r2 = ops_store.rounds["r1"], ops_store.rounds["r2"]
    assert set(m.per_round) == {r1, r2}
    assert (m.per_round[r1].labels, m.per_round[r1].pushed, m.per_round[r1].backlog) == (4, 4, 1)
    assert (m.per_round[r2].labels, m.per_round[r2].skips, m.per_round[r2].backlog) == (1, 1, 0)
    assert m.per_round[r2].turnaround_s.median == pytest.approx(40.0)  # [30, 50]
    assert m.rounds[r1]["strategy"] == "margin" and m.rounds[r1]["pushed_at"].startswith("2026-01-05T09:00")
    assert sorted(m.per_annotator) == ["alice", "bob", "carol"]  # dave's only answer was retracted
    alice = m.per_annotator["alice"]
    assert (alice.labels, alice.lead_time_s.median, alice.pushed) == (2, 15.0, None)
    assert alice.turnaround_s.n == 2 and alice.turnaround_s.median == pytest.approx(75.0)  # tasks 101, 102
    assert alice.acceptance.rate == pytest.approx(0.5)
    assert m.per_annotator["bob"].active_hours == pytest.approx(130 / 3600)
    assert {d: g.answers for d, g in m.per_day.items()} == {"2026-01-05": 4, "2026-01-06": 2}
    assert m.overall.cost is None and m.overall.cost_per_label is None  # no rate configured


def test_acceptance_by_class_and_model_version(ops_store: Any) -> None:
    m = ops_from_store(ops_store.store, _cfg())
    assert {k: (a.shown, a.accepted) for k, a in m.acceptance_by_class.items()} == {"neg": (1, 1), "pos": (3, 2)}
    assert m.acceptance_by_model_version["mv1"].rate == pytest.approx(0.75)


def test_labels_saved_uses_the_reference_ratio_and_never_guesses(ops_store: Any) -> None:
    m = ops_from_store(ops_store.store, _cfg(), random_ratios={"margin": 0.5, "random": 1.0})
    saved = m.labels_saved
    assert saved.estimated == pytest.approx(4.0)  # 4 margin labels bought what 8 random labels would
    assert (saved.labels_estimated, saved.labels_not_estimated) == (4, 1)  # typiclust: no reference
    assert saved.by_strategy["typiclust"]["saved"] is None
    none = ops_from_store(ops_store.store, _cfg()).labels_saved
    assert none.estimated is None and none.labels_not_estimated == 5
    worse = estimate_labels_saved({"entropy": 100}, {"entropy": 1.25})
    assert worse.estimated == pytest.approx(-20.0)


def test_load_random_ratios(tmp_path: Path) -> None:
    p = tmp_path / "strategies.json"
    p.write_text(json.dumps({"ratio_to_random": {"a": {"random": 1.0, "margin": 0.6, "margin (C=1)": 0.1},
                                                 "b": {"random": 1.0, "margin": 0.8, "bald": None}}}))  # fmt: skip
    assert load_random_ratios(p) == pytest.approx({"margin": 0.7, "random": 1.0})
    with pytest.raises(FileNotFoundError, match="bench_strategies"):
        load_random_ratios(tmp_path / "missing.json")
    real = REPO / "bench" / "strategies.json"
    if real.is_file():  # the committed benchmark: ratios are positive numbers, random is the unit
        ratios = load_random_ratios(real)
        assert ratios["random"] == 1.0 and all(v > 0 for v in ratios.values())


def test_as_dict_is_json_serialisable(ops_store: Any) -> None:
    d = ops_from_store(ops_store.store, _cfg(hourly_rate=10.0)).as_dict()
    again = json.loads(json.dumps(d))
    assert again["backlog"] == 1 and again["overall"]["acceptance"]["rate"] == 0.75
    assert set(again["per_round"]) == {str(r) for r in again["rounds"]}


def test_empty_store_and_bad_input(ops_store: Any) -> None:
    m = compute_ops([], [], [], config=OpsConfig())
    assert m.overall.answers == 0 and m.overall.labels_per_active_hour is None and m.overall.backlog == 0
    assert m.overall.lead_time_s.median is None and m.auto_label_share is None
    events = ops_store.store.label_events()
    bad = [dict(e) for e in events]
    bad[0]["lead_time_s"] = -3.0
    with pytest.raises(ValueError, match=rf"label event {bad[0]['id']} .*lead_time_s must be >= 0"):
        compute_ops(bad, [], [])
    with pytest.raises(ValueError, match="idle_gap_s"):
        compute_ops(events, [], [], idle_gap_s=-1)


def test_idle_gap_splits_sessions(ops_store: Any) -> None:
    store = ops_store.store
    tight = compute_ops(store.label_events(), store.rounds(), store.pushed_tasks(), idle_gap_s=0.0)
    # alice [50, 60] + [100, 120], bob [3570, 3600] + [3660, 3700], carol [22, 30] + [38, 50]: 10+20+30+40+8+12.
    assert tight.overall.active_hours == pytest.approx(120 / 3600)


def test_ops_and_drift_config_errors_name_the_key(tmp_path: Path) -> None:
    from labelloop.engine.config import ConfigError, parse_config

    base = {"project": "p", "task": {"labels": ["a", "b"]}}
    with pytest.raises(ConfigError, match=r"ops\.hourly_rate: .*greater than or equal to 0"):
        parse_config({**base, "ops": {"hourly_rate": -1}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"drift\.psi_max: unknown key; allowed keys: classifier_auc, "):
        parse_config({**base, "drift": {"psi_max": 0.1}}, base_dir=tmp_path)
    cfg = parse_config({**base, "ops": {"per_task_rate": 0.08, "currency": "EUR"}}, base_dir=tmp_path)
    assert (cfg.ops.per_task_rate, cfg.ops.currency, cfg.drift.p_value) == (0.08, "EUR", 0.01)
