"""Budgets (caps in labels and money, committed vs spent, calendar periods) and the capacity forecast."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pytest

from labelloop.engine.config import ConfigError, parse_config
from labelloop.engine.metrics.forecast import (
    annotator_hours,
    backlog_days,
    fit_learning_curve,
    labels_for_accuracy,
)
from labelloop.engine.rounds.budget import BudgetExhausted, budget_state, period_bounds, require_room
from labelloop.engine.store import Store

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday


def _cfg(tmp_path: Path, **budget: object) -> object:
    return parse_config(
        {
            "project": "b",
            "task": {"labels": ["a", "b"]},
            "ops": {"per_task_rate": 0.5, "hourly_rate": 36.0, "currency": "EUR"},
            "quality": {"overlap": {"share": 0.5, "annotators": 2}},
            "budget": {"period": "week", **budget},
        },
        base_dir=tmp_path,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.create(f"sqlite:///{tmp_path / 'b.db'}")
    run = s.start_ingest_run("t.csv", "csv", None)
    s.add_items(
        [
            {"identity_hash": hashlib.sha256(f"h{i}".encode()).hexdigest(), "content_hash": f"c{i}", "text": f"t{i}",
             "source": "t.csv", "source_line": i + 2, "ingest_run_id": run}
            for i in range(10)
        ]
    )  # fmt: skip
    rnd = s.add_round({"strategy": "margin", "seed": 0, "picked_item_ids": {"item_ids": [1, 2, 3, 4]}})
    # 4 tasks pushed on Monday of this week; 2 answered on Tuesday (lead times 60 s and 120 s).
    s.add_pushed_tasks(
        [{"item_id": i, "round_id": rnd, "ls_project_id": 1, "task_id": 100 + i, "pushed_at": T0 - dt.timedelta(days=2)}
         for i in (1, 2, 3, 4)]
    )  # fmt: skip
    s.append_label_events(
        [
            {"item_id": i, "label": "a", "source": "human", "annotator": "x", "tool": "t", "external_id": f"e{i}",
             "round_id": rnd, "ext_project_id": 1, "ext_task_id": 100 + i, "ext_annotation_id": 500 + i,
             "lead_time_s": lt, "event_at": T0 - dt.timedelta(days=1)}
            for i, lt in ((1, 60.0), (2, 120.0))
        ]
    )  # fmt: skip
    return s


def test_period_bounds() -> None:
    assert period_bounds("day", T0) == (dt.datetime(2026, 11, 18, tzinfo=UTC), dt.datetime(2026, 11, 19, tzinfo=UTC))
    assert period_bounds("week", T0)[0] == dt.datetime(2026, 11, 16, tzinfo=UTC)  # Monday
    assert period_bounds("month", T0) == (dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))


def test_spent_committed_and_tasks_allowed(store: Store, tmp_path: Path) -> None:
    st = budget_state(store, _cfg(tmp_path, period_labels=12), at=T0)
    # A task expects 1 + 0.5 × (2 − 1) = 1.5 answers: 2 answered tasks still expect 0.5 each, 2 unanswered 1.5 each.
    assert st.expected_answers_per_task == 1.5
    assert st.answers_in_period == 2 and st.committed_answers == pytest.approx(4.0)
    assert st.remaining_period_labels == pytest.approx(12 - 2 - 4.0)
    assert st.tasks_allowed == 4  # floor(6 / 1.5)
    # Money: 0.5 per answer + 36/h × lead time; real lead times for spend, the median (90 s) for what is expected.
    assert st.spent == pytest.approx(2 * 0.5 + 36 * (60 + 120) / 3600)
    assert st.expected_cost_per_answer == pytest.approx(0.5 + 36 * 90 / 3600)


def test_caps_in_money_and_per_round(store: Store, tmp_path: Path) -> None:
    st = budget_state(store, _cfg(tmp_path, period_cost=10.0, round_labels=3), at=T0)
    per_answer = 0.5 + 36 * 90 / 3600  # 1.4
    remaining = 10.0 - st.spent - 4.0 * per_answer
    assert st.remaining_period_cost == pytest.approx(remaining)
    assert st.tasks_allowed == min(int(3 / 1.5), int(remaining / (1.5 * per_answer)))


def test_exhausted_names_cap_and_next_period(store: Store, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, period_labels=6)
    with pytest.raises(BudgetExhausted, match=r"period_labels 6, used 6.*next period starts 2026-11-23"):
        require_room(budget_state(store, cfg, at=T0))
    # Next week: nothing of this week counts.
    nxt = budget_state(store, cfg, at=T0 + dt.timedelta(days=7))
    assert nxt.answers_in_period == 0 and nxt.committed_answers == 0 and nxt.tasks_allowed == 4


def test_uncapped_and_money_cap_without_rates(store: Store, tmp_path: Path) -> None:
    assert budget_state(store, _cfg(tmp_path), at=T0).tasks_allowed is None
    cfg = parse_config(
        {"project": "b", "task": {"labels": ["a", "b"]}, "budget": {"period_cost": 5.0}}, base_dir=tmp_path
    )
    with pytest.raises(ConfigError, match=r"ops\.per_task_rate or ops\.hourly_rate"):
        budget_state(store, cfg, at=T0)


def test_backlog_forecast_brackets_a_steady_rate() -> None:
    rng = np.random.default_rng(0)
    f = backlog_days([40, 60, 50, 50], 500, rng=rng)
    assert f.value is not None and f.value.p10 <= 10.0 <= f.value.p90 and f.value.p50 == pytest.approx(10, rel=0.1)
    assert backlog_days([40, 60], 500, rng=rng).value is None  # too little history: no number, a note
    assert backlog_days([40, 60, 50], 0, rng=rng).value.p50 == 0


def test_annotator_hours() -> None:
    f = annotator_hours([36.0] * 20, 100, rng=np.random.default_rng(0))
    assert f.value is not None and f.value.p50 == pytest.approx(1.0)


def test_learning_curve_extrapolation_recovers_a_known_curve() -> None:
    a, b, c = 0.92, 1.5, 0.6
    n = np.array([50, 100, 150, 200, 300, 400, 500], dtype=float)
    acc = a - b * n ** (-c)
    params = fit_learning_curve(n, acc)
    assert params is not None and params[0] == pytest.approx(a, abs=1e-3)
    truth = ((a - 0.88) / b) ** (-1 / c)
    f = labels_for_accuracy(n, acc, 0.88, rng=np.random.default_rng(0))
    assert f.value is not None and f.value.p50 == pytest.approx(truth, rel=0.02)
    unreachable = labels_for_accuracy(n, acc, 0.95, rng=np.random.default_rng(0))
    assert unreachable.value is None and "asymptote" in unreachable.note


def test_forecast_block_uses_each_annotators_pace() -> None:
    from labelloop.engine.metrics.forecast import forecast_from_ops

    ops = {
        "per_day": {"d1": {"labels": 40}, "d2": {"labels": 60}, "d3": {"labels": 50}},
        "backlog": 100,
        "per_annotator": {"a": {"labels_per_active_hour": 30.0}, "b": {"labels_per_active_hour": 20.0}},
    }
    f = forecast_from_ops(ops, [], lead_times_s=[36.0] * 20, today=dt.date(2026, 11, 23))
    assert f["team_labels_per_active_hour"] == 50.0 and f["team_active_hours_for_backlog"] == 2.0
    assert f["backlog_days"]["value"]["p10"] <= 2.0 <= f["backlog_days"]["value"]["p90"]
    assert f["backlog_done_by"]["p50"] == "2026-11-25"
    assert f["hours_for_labels"]["value"]["p50"] == pytest.approx(1.0)
