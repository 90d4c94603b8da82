"""Spend caps: how many more tasks a round may push now, and what has been spent.

Units. A *label* here is one expected human answer: a task pushed with overlap is expected to get
``1 + share × (annotators − 1)`` answers, so it counts that much against a label cap. *Money* comes from the
``ops`` rates: ``per_task_rate`` per answer plus ``hourly_rate`` × lead time; before any lead time is measured an
hour-rated answer is assumed to take ``budget.assumed_lead_time_s``.

Spend in a period = what was actually answered (answers × rates, real lead times) + what is committed (tasks pushed
in the period still waiting for their expected answers, at the expected cost). Caps are checked against that, so
a push never commits more than the cap even before annotators start.

The clock is :func:`now`: UTC, or ``LABELLOOP_CLOCK`` (an ISO timestamp) for tests and replays of past periods.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from labelloop.engine.config import ConfigError, ProjectConfig
from labelloop.engine.store import Store


class BudgetExhausted(RuntimeError):
    """A cap leaves room for no task."""


def now() -> dt.datetime:
    fixed = os.environ.get("LABELLOOP_CLOCK")
    if fixed:
        try:
            t = dt.datetime.fromisoformat(fixed)
        except ValueError:
            raise ConfigError(f"LABELLOOP_CLOCK: not an ISO timestamp: {fixed!r}") from None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def period_bounds(period: str, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calendar period (UTC) that contains ``at``."""
    day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class BudgetState:
    period: str
    period_start: str
    period_end: str
    currency: str
    expected_answers_per_task: float
    expected_cost_per_answer: float | None
    answers_in_period: int
    committed_answers: float
    spent: float | None
    committed_cost: float | None
    round_labels: int | None
    round_cost: float | None
    period_labels: int | None
    period_cost: float | None
    remaining_period_labels: float | None
    remaining_period_cost: float | None
    tasks_allowed: int | None  # None: no cap applies

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _answers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Human answers (labels and skips) as Label Studio recorded them; edits and retractions are not new answers."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for e in events:
        if e["source"] != "human" or e.get("retracts_event_id") is not None:
            continue
        key = (e.get("ext_project_id"), e.get("ext_annotation_id")) if e.get("ext_annotation_id") else ("id", e["id"])
        if key in seen:
            continue
        seen.add(key)
        out.append(e)
    return out


def budget_state(store: Store, cfg: ProjectConfig, *, at: dt.datetime | None = None) -> BudgetState:
    b, ops, ov = cfg.budget, cfg.ops, cfg.quality.overlap
    at = at or now()
    start, end = period_bounds(b.period, at)
    money_capped = b.round_cost is not None or b.period_cost is not None
    if money_capped and ops.per_task_rate is None and ops.hourly_rate is None:
        raise ConfigError("budget.round_cost/period_cost: set ops.per_task_rate or ops.hourly_rate to price a label")
    per_task = 1.0 + ov.share * (ov.annotators - 1)
    events = store.label_events()
    answers = _answers(events)
    in_period = [a for a in answers if start <= _utc(a["event_at"]) < end]
    leads = [float(a["lead_time_s"]) for a in answers if a.get("lead_time_s") is not None]
    lead_s = statistics.median(leads) if leads else b.assumed_lead_time_s
    priced = ops.per_task_rate is not None or ops.hourly_rate is not None
    cost_answer = (ops.per_task_rate or 0.0) + (ops.hourly_rate or 0.0) * lead_s / 3600 if priced else None
    spent = None
    if priced:
        spent = sum(
            (ops.per_task_rate or 0.0)
            + (ops.hourly_rate or 0.0) * float(a.get("lead_time_s") or b.assumed_lead_time_s) / 3600
            for a in in_period
        )
    answered_tasks: dict[tuple[Any, Any], int] = {}
    for a in answers:
        key = (a.get("ext_project_id"), a.get("ext_task_id"))
        answered_tasks[key] = answered_tasks.get(key, 0) + 1
    committed = 0.0
    for t in store.pushed_tasks():
        if t["round_id"] is None or not start <= _utc(t["pushed_at"]) < end:
            continue  # review tasks are not round spend; other periods are theirs
        committed += max(0.0, per_task - answered_tasks.get((t["ls_project_id"], t["task_id"]), 0))
    used = len(in_period) + committed
    rem_labels = None if b.period_labels is None else b.period_labels - used
    rem_cost = None
    if b.period_cost is not None and cost_answer is not None:
        rem_cost = b.period_cost - (spent or 0.0) - committed * cost_answer
    caps: list[float] = []
    if b.round_labels is not None:
        caps.append(b.round_labels / per_task)
    if rem_labels is not None:
        caps.append(rem_labels / per_task)
    if b.round_cost is not None and cost_answer:
        caps.append(b.round_cost / (per_task * cost_answer))
    if rem_cost is not None and cost_answer:
        caps.append(rem_cost / (per_task * cost_answer))
    allowed = max(0, math.floor(min(caps) + 1e-9)) if caps else None
    return BudgetState(
        period=b.period,
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        currency=ops.currency,
        expected_answers_per_task=per_task,
        expected_cost_per_answer=cost_answer,
        answers_in_period=len(in_period),
        committed_answers=committed,
        spent=spent,
        committed_cost=None if cost_answer is None else committed * cost_answer,
        round_labels=b.round_labels,
        round_cost=b.round_cost,
        period_labels=b.period_labels,
        period_cost=b.period_cost,
        remaining_period_labels=rem_labels,
        remaining_period_cost=rem_cost,
        tasks_allowed=allowed,
    )


def require_room(state: BudgetState) -> int | None:
    """The number of tasks a round may push now (None: uncapped); raise when it is zero, naming cap and spend."""
    if state.tasks_allowed is None or state.tasks_allowed > 0:
        return state.tasks_allowed
    parts = []
    if state.period_labels is not None:
        parts.append(
            f"period_labels {state.period_labels}, used {state.period_labels - state.remaining_period_labels:g}"
        )
    if state.period_cost is not None and state.remaining_period_cost is not None:
        parts.append(
            f"period_cost {state.period_cost:g} {state.currency}, "
            f"spent+committed {state.period_cost - state.remaining_period_cost:.2f}"
        )
    if state.round_labels is not None:
        parts.append(f"round_labels {state.round_labels}")
    if state.round_cost is not None:
        parts.append(f"round_cost {state.round_cost:g} {state.currency}")
    raise BudgetExhausted(
        f"budget exhausted for the {state.period} from {state.period_start[:10]}: "
        + "; ".join(parts)
        + f" (a task counts {state.expected_answers_per_task:g} expected answers); next period starts "
        f"{state.period_end[:10]}"
    )
