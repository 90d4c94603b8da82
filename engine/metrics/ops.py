"""Labeling-operations metrics from the store: throughput, lead time, turnaround, backlog, pre-label acceptance,
auto-label share, cost and labels saved, per round, per annotator and per day.

When to use what:

* :func:`ops_from_store` ``(store, cfg)``: reads events, rounds, pushed tasks and the resolved labels, and calls
  :func:`compute_ops`. What the CLI, the report and the Prometheus endpoint use.
* :func:`compute_ops` ``(events, rounds, pushed_tasks, *, ...)``: the pure core over plain dicts (the store's row
  dicts), for tests and for callers that already hold the rows.
* :func:`load_random_ratios`: the "labels needed vs random" ratios measured by ``scripts/bench_strategies.py``,
  the reference of the labels-saved estimate.

Definitions (every one is computed from what the store records, nothing is assumed):

* An **answer** is a person's latest live event on an item in a round: source ``human`` or ``adjudication``, not a
  retraction and not retracted, one per (item, annotator, round); edits replace the earlier event. An answer with a
  label is a **label**, one without is a **skip**.
* **Lead time**: the annotation tool's time-on-task (``lead_time_s``; Label Studio measures it in the browser).
* **Labels per annotated hour** = labels / annotated hours (the sum of the lead times of all answers, skips
  included, in hours; answers without a lead time are left out of both): speed while on a task, idle time
  excluded. **Labels per active hour** = labels / wall-clock active annotator-hours, where each answer occupies
  ``[event_at - lead_time_s, event_at]`` on the tool's clock and one annotator's intervals closer than
  ``idle_gap_s`` are merged into one session (the gap counts as work: reading, switching tasks); sessions of
  different annotators add up (annotator-hours). The second is lower and is the one to staff by.
* **Turnaround**: per pushed task, push (``pushed_at``, our clock) → its first answer (``event_at``, the tool's
  clock); the two clocks may disagree, so negative values are clamped to 0 and counted in ``clock_skew_tasks``.
* **Backlog**: pushed tasks with no answer yet (a skip is an answer).
* **Pre-label acceptance**: among labels given on a task shown with a pre-label, the share equal to it
  (``prelabel_accepted``), per pre-labelled class and per model version.
* **Auto-label share**: resolved labels whose rule is ``model`` (auto-labels under the precision target) over all
  resolved labels (:func:`labelloop.engine.quality.assess.resolve_store`).
* **Cost** = ``hourly_rate`` × annotated hours + ``per_task_rate`` × answers (skips are paid work too), over labels.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelloop.engine.config import OpsConfig
from labelloop.engine.quality.votes import live_labels

if TYPE_CHECKING:
    from labelloop.engine.config import ProjectConfig
    from labelloop.engine.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "Acceptance",
    "GroupOps",
    "LabelsSaved",
    "OpsMetrics",
    "Stat",
    "compute_ops",
    "estimate_labels_saved",
    "load_random_ratios",
    "ops_from_store",
]

#: Sources whose events are a person's answer to a task.
ANSWER_SOURCES = ("human", "adjudication")
DEFAULT_IDLE_GAP_S = 300.0


@dataclass(frozen=True)
class Stat:
    """Median, 90th percentile and mean of ``n`` values (seconds); ``None`` when there are none."""

    n: int
    median: float | None
    p90: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            return cls(0, None, None, None)
        arr = np.asarray(values, dtype=np.float64)
        return cls(int(arr.size), float(np.median(arr)), float(np.percentile(arr, 90)), float(arr.mean()))


@dataclass(frozen=True)
class Acceptance:
    """Pre-labelled labels (``shown``), how many kept the pre-label (``accepted``) and the rate."""

    shown: int
    accepted: int

    @property
    def rate(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    def as_dict(self) -> dict[str, Any]:
        return {"shown": self.shown, "accepted": self.accepted, "rate": self.rate}


@dataclass(frozen=True)
class GroupOps:
    """The operations numbers of one group of answers (a round, an annotator, a day, or everything)."""

    answers: int
    labels: int
    skips: int
    annotators: int
    lead_time_s: Stat
    annotated_hours: float
    answers_without_lead_time: int
    labels_per_annotated_hour: float | None
    active_hours: float
    labels_per_active_hour: float | None
    turnaround_s: Stat
    clock_skew_tasks: int
    pushed: int | None  # tasks pushed in the group (None for groups that are not push-based: annotators)
    backlog: int | None
    acceptance: Acceptance
    cost: float | None
    cost_per_label: float | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["acceptance"] = self.acceptance.as_dict()
        return d


@dataclass(frozen=True)
class LabelsSaved:
    """Labels saved against random sampling, estimated (see :func:`estimate_labels_saved`)."""

    estimated: float | None
    labels_estimated: int
    labels_not_estimated: int
    by_strategy: dict[str, dict[str, float | int | None]]
    method: str


@dataclass(frozen=True)
class OpsMetrics:
    """Everything :func:`compute_ops` measures; ``as_dict()`` is JSON-friendly (keys of groups are strings)."""

    overall: GroupOps
    per_round: dict[int, GroupOps]
    rounds: dict[int, dict[str, Any]]  # round id → strategy, state, created/pushed/closed times
    per_annotator: dict[str, GroupOps]
    per_day: dict[str, GroupOps]
    review_backlog: int
    acceptance_by_class: dict[str, Acceptance]
    acceptance_by_model_version: dict[str, Acceptance]
    labels_by_source: dict[str, int]
    resolved_labels: int | None
    auto_labels: int | None
    currency: str
    labels_saved: LabelsSaved
    idle_gap_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def auto_label_share(self) -> float | None:
        if not self.resolved_labels or self.auto_labels is None:
            return None
        return self.auto_labels / self.resolved_labels

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "per_round": {str(k): v.as_dict() for k, v in self.per_round.items()},
            "rounds": {str(k): v for k, v in self.rounds.items()},
            "per_annotator": {k: v.as_dict() for k, v in self.per_annotator.items()},
            "per_day": {k: v.as_dict() for k, v in self.per_day.items()},
            "backlog": self.overall.backlog,
            "review_backlog": self.review_backlog,
            "acceptance_by_class": {k: v.as_dict() for k, v in self.acceptance_by_class.items()},
            "acceptance_by_model_version": {k: v.as_dict() for k, v in self.acceptance_by_model_version.items()},
            "labels_by_source": dict(self.labels_by_source),
            "resolved_labels": self.resolved_labels,
            "auto_labels": self.auto_labels,
            "auto_label_share": self.auto_label_share,
            "currency": self.currency,
            "labels_saved": asdict(self.labels_saved),
            "idle_gap_s": self.idle_gap_s,
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------------------------ helpers
def _utc(value: Any) -> datetime | None:
    """Aware UTC datetime from a datetime (naive = UTC, as SQLite returns them) or an ISO string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO string, got {type(value).__name__}: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _Answer:
    event_id: int
    item_id: int
    annotator: str
    round_id: int | None
    label: str | None
    at: datetime
    lead_time_s: float | None
    prelabel: str | None
    prelabel_accepted: bool | None
    model_version_id: str | None
    task_key: tuple[int, int] | None  # (Label Studio project, task)


@dataclass(frozen=True)
class _Task:
    item_id: int
    round_id: int | None
    key: tuple[int, int]
    pushed_at: datetime
    first_answer: _Answer | None


def _answers(events: Sequence[Mapping[str, Any]], *, latest_only: bool = True) -> list[_Answer]:
    """Live answer events, sorted by time; ``latest_only``: one per (item, annotator, round), the latest."""
    retracted = {e["retracts_event_id"] for e in events if e.get("retracts_event_id") is not None}
    kept: dict[tuple[int, str, int | None, int], Mapping[str, Any]] = {}
    for e in sorted(events, key=lambda ev: ev["id"]):
        if e["source"] not in ANSWER_SOURCES or e["id"] in retracted or e.get("retracts_event_id") is not None:
            continue
        kept[(int(e["item_id"]), e.get("annotator") or "unknown", e.get("round_id"), 0 if latest_only else e["id"])] = e
    out = []
    for (item, annotator, round_id, _), e in kept.items():
        at = _utc(e.get("event_at"))
        if at is None:
            raise ValueError(f"label event {e['id']} (item {item}) has no event_at")
        lead = e.get("lead_time_s")
        if lead is not None and not (np.isfinite(lead) and lead >= 0):
            raise ValueError(f"label event {e['id']} (item {item}): lead_time_s must be >= 0, got {lead!r}")
        pid, tid = e.get("ext_project_id"), e.get("ext_task_id")
        out.append(
            _Answer(int(e["id"]), item, annotator, round_id, e.get("label"), at,
                    None if lead is None else float(lead), e.get("prelabel"), e.get("prelabel_accepted"),
                    e.get("model_version_id"), (int(pid), int(tid)) if pid is not None and tid is not None else None)
        )  # fmt: skip
    return sorted(out, key=lambda a: (a.at, a.event_id))


def _tasks(pushed: Sequence[Mapping[str, Any]], answers: Sequence[_Answer]) -> list[_Task]:
    """Each pushed task with its first answer (``answers``: every live answer event, edits included, so an edited
    answer counts from its first version): matched on the Label Studio (project, task), else on (item, round)."""
    by_key: dict[tuple[int, int], _Answer] = {}
    by_item_round: dict[tuple[int, int | None], _Answer] = {}
    for a in answers:  # sorted by time: the first one seen is the first answer
        if a.task_key is not None:
            by_key.setdefault(a.task_key, a)
        else:
            by_item_round.setdefault((a.item_id, a.round_id), a)
    out = []
    for t in pushed:
        key = (int(t["ls_project_id"]), int(t["task_id"]))
        pushed_at = _utc(t.get("pushed_at"))
        if pushed_at is None:
            raise ValueError(f"pushed task {key[1]} (item {t['item_id']}) has no pushed_at")
        first = by_key.get(key) or by_item_round.get((int(t["item_id"]), t.get("round_id")))
        out.append(_Task(int(t["item_id"]), t.get("round_id"), key, pushed_at, first))
    return out


def _active_hours(answers: Iterable[_Answer], idle_gap_s: float) -> float:
    """Wall-clock annotator-hours: per annotator, answer intervals merged across gaps up to ``idle_gap_s``."""
    per_annotator: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for a in answers:
        end = a.at.timestamp()
        per_annotator[a.annotator].append((end - (a.lead_time_s or 0.0), end))
    total = 0.0
    for intervals in per_annotator.values():
        intervals.sort()
        start, end = intervals[0]
        for s, e in intervals[1:]:
            if s - end <= idle_gap_s:
                end = max(end, e)
            else:
                total += end - start
                start, end = s, e
        total += end - start
    return total / 3600.0


def _acceptance(answers: Iterable[_Answer]) -> Acceptance:
    shown = [a for a in answers if a.label is not None and a.prelabel is not None and a.prelabel_accepted is not None]
    return Acceptance(len(shown), sum(bool(a.prelabel_accepted) for a in shown))


def _group(
    answers: Sequence[_Answer], tasks: Sequence[_Task] | None, cfg: OpsConfig, idle_gap_s: float,
    turnaround_tasks: Sequence[_Task],
) -> GroupOps:  # fmt: skip
    labels = sum(a.label is not None for a in answers)
    with_lead = [a for a in answers if a.lead_time_s is not None]
    annotated_h = sum(a.lead_time_s or 0.0 for a in with_lead) / 3600.0
    labels_with_lead = sum(a.label is not None for a in with_lead)
    active_h = _active_hours(answers, idle_gap_s) if answers else 0.0
    turnaround, skew = [], 0
    for t in turnaround_tasks:
        if t.first_answer is None:
            continue
        dt = (t.first_answer.at - t.pushed_at).total_seconds()
        skew += dt < 0
        turnaround.append(max(dt, 0.0))
    cost: float | None = None
    if cfg.hourly_rate is not None or cfg.per_task_rate is not None:
        cost = (cfg.hourly_rate or 0.0) * annotated_h + (cfg.per_task_rate or 0.0) * len(answers)
    return GroupOps(
        answers=len(answers),
        labels=labels,
        skips=len(answers) - labels,
        annotators=len({a.annotator for a in answers}),
        lead_time_s=Stat.of([a.lead_time_s for a in with_lead if a.lead_time_s is not None]),
        annotated_hours=annotated_h,
        answers_without_lead_time=len(answers) - len(with_lead),
        labels_per_annotated_hour=labels_with_lead / annotated_h if annotated_h > 0 else None,
        active_hours=active_h,
        labels_per_active_hour=labels / active_h if active_h > 0 else None,
        turnaround_s=Stat.of(turnaround),
        clock_skew_tasks=int(skew),
        pushed=None if tasks is None else len(tasks),
        backlog=None if tasks is None else sum(t.first_answer is None for t in tasks),
        acceptance=_acceptance(answers),
        cost=cost,
        cost_per_label=cost / labels if cost is not None and labels else None,
    )


def _grouped(
    answers: Sequence[_Answer], tasks: Sequence[_Task], key: Callable[[_Answer], Any],
    task_key: Callable[[_Task], Any] | None, cfg: OpsConfig, idle_gap_s: float,
) -> dict[Any, GroupOps]:  # fmt: skip
    by: dict[Any, list[_Answer]] = defaultdict(list)
    for a in answers:
        by[key(a)].append(a)
    tasks_by: dict[Any, list[_Task]] = defaultdict(list)
    turn_by: dict[Any, list[_Task]] = defaultdict(list)
    for t in tasks:
        if task_key is not None:
            tasks_by[task_key(t)].append(t)
        if t.first_answer is not None:
            turn_by[key(t.first_answer) if task_key is None else task_key(t)].append(t)
    keys = set(by) | (set(tasks_by) if task_key is not None else set())
    keys.discard(None)
    return {
        k: _group(by.get(k, []), tasks_by.get(k, []) if task_key is not None else None, cfg, idle_gap_s,
                  turn_by.get(k, []))
        for k in sorted(keys)
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------- labels saved
def load_random_ratios(path: str | Path) -> dict[str, float]:
    """Per strategy, the mean over datasets of ``ratio_to_random`` in a ``bench/strategies.json`` (labels the
    strategy needed to reach 95% of full-pool accuracy / labels random sampling needed); rows the benchmark could
    not measure (``null``) are left out. A missing file raises ``FileNotFoundError`` naming it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no strategies benchmark at {p}: run scripts/bench_strategies.py")
    data = json.loads(p.read_text(encoding="utf-8"))
    ratios = data.get("ratio_to_random")
    if not isinstance(ratios, Mapping):
        raise ValueError(f"{p}: no 'ratio_to_random' mapping")
    collected: dict[str, list[float]] = defaultdict(list)
    for per_strategy in ratios.values():
        for name, value in per_strategy.items():
            if value is not None and "(" not in name:  # "(C=1)" rows are reference setups, not strategies
                collected[name].append(float(value))
    return {name: float(np.mean(v)) for name, v in sorted(collected.items())}


def estimate_labels_saved(
    labels_by_strategy: Mapping[str, int], random_ratios: Mapping[str, float] | None
) -> LabelsSaved:
    """Labels saved against random sampling, estimated from the round history.

    Estimator: a round chose its items with strategy ``s``; the simulation benchmark measured that ``s`` reaches
    95% of full-pool accuracy with ``r_s`` times the labels random sampling needs (``ratio_to_random``, mean over
    the benchmark's datasets). The ``L_s`` human labels of ``s``'s rounds would then have bought the accuracy of
    ``L_s / r_s`` random labels, so the saving is ``L_s (1/r_s - 1)`` (negative when ``r_s > 1``). It is an
    extrapolation from other datasets, not a measurement on this project (that would need a random-sampling
    control arm on the same data): read it as an order of magnitude. Labels of strategies the benchmark did not
    measure (cold start, wrappers) are counted in ``labels_not_estimated``, never guessed.
    """
    method = (
        "L_s * (1/r_s - 1) per strategy s, r_s = labels to 95% of full-pool accuracy vs random, measured by "
        "scripts/bench_strategies.py on other datasets (an extrapolation, not a control arm)"
    )
    by: dict[str, dict[str, float | int | None]] = {}
    estimated, n_est, n_not = 0.0, 0, 0
    for name, n in sorted(labels_by_strategy.items()):
        r = None if random_ratios is None else random_ratios.get(name)
        saved = None if r is None or r <= 0 else n * (1.0 / r - 1.0)
        by[name] = {"labels": int(n), "ratio_to_random": r, "saved": saved}
        if saved is None:
            n_not += n
        else:
            estimated += saved
            n_est += n
    return LabelsSaved(estimated if n_est else None, n_est, n_not, by, method)


# ------------------------------------------------------------------------------------------------------- core
def compute_ops(
    events: Sequence[Mapping[str, Any]],
    rounds: Sequence[Mapping[str, Any]],
    pushed_tasks: Sequence[Mapping[str, Any]],
    *,
    config: OpsConfig | None = None,
    resolved_rules: Mapping[int, str] | None = None,
    random_ratios: Mapping[str, float] | None = None,
    idle_gap_s: float = DEFAULT_IDLE_GAP_S,
) -> OpsMetrics:
    """Operations metrics from the store's rows (see the module docstring for every definition).

    ``events``, ``rounds``, ``pushed_tasks``: row dicts as :class:`labelloop.engine.store.Store` returns them.
    ``resolved_rules``: item → resolution rule (for the auto-label share; ``None`` leaves it unmeasured).
    ``random_ratios``: strategy → labels ratio to random (:func:`load_random_ratios`) for the labels-saved estimate.
    """
    cfg = config or OpsConfig()
    if idle_gap_s < 0:
        raise ValueError(f"idle_gap_s must be >= 0, got {idle_gap_s!r}")
    answers = _answers(events)
    tasks = _tasks(pushed_tasks, _answers(events, latest_only=False))
    round_tasks = [t for t in tasks if t.round_id is not None]
    notes = []

    overall = _group(answers, round_tasks, cfg, idle_gap_s, [t for t in round_tasks if t.first_answer is not None])
    per_round = _grouped(answers, round_tasks, lambda a: a.round_id, lambda t: t.round_id, cfg, idle_gap_s)
    per_annotator = _grouped(answers, round_tasks, lambda a: a.annotator, None, cfg, idle_gap_s)
    per_day = _grouped(answers, round_tasks, lambda a: a.at.date().isoformat(), None, cfg, idle_gap_s)

    by_class: dict[str, list[_Answer]] = defaultdict(list)
    by_version: dict[str, list[_Answer]] = defaultdict(list)
    for a in answers:
        if a.prelabel is not None:
            by_class[a.prelabel].append(a)
            by_version[a.model_version_id or "unknown"].append(a)

    live = live_labels(events)
    by_source = {
        "human": sum(len(v) for v in live.human.values()),
        "gold": len(live.gold),
        "adjudication": len(live.adjudication),
        "import": len(live.imported),
        "model": len(live.model),
    }

    round_info = {
        int(r["id"]): {
            "strategy": r.get("strategy"),
            "state": r.get("state"),
            "created_at": _iso(r.get("created_at")),
            "pushed_at": _iso(r.get("pushed_at")),
            "closed_at": _iso(r.get("closed_at")),
        }
        for r in rounds
    }
    strategy_of = {rid: info["strategy"] for rid, info in round_info.items()}
    labels_by_strategy: dict[str, int] = defaultdict(int)
    for rid, g in per_round.items():
        labels_by_strategy[strategy_of.get(rid) or "unknown"] += g.labels
    if random_ratios is None:
        notes.append("labels saved not estimated: no random-sampling reference (bench/strategies.json) given")

    auto = None if resolved_rules is None else sum(rule == "model" for rule in resolved_rules.values())
    if overall.answers_without_lead_time:
        notes.append(f"{overall.answers_without_lead_time} answers carry no lead time: not in annotated hours/cost")
    if overall.clock_skew_tasks:
        notes.append(f"{overall.clock_skew_tasks} tasks answered before their push time (clock skew): turnaround 0")
    return OpsMetrics(
        overall=overall,
        per_round=per_round,
        rounds=round_info,
        per_annotator=per_annotator,
        per_day=per_day,
        review_backlog=sum(t.round_id is None and t.first_answer is None for t in tasks),
        acceptance_by_class={k: _acceptance(v) for k, v in sorted(by_class.items())},
        acceptance_by_model_version={k: _acceptance(v) for k, v in sorted(by_version.items())},
        labels_by_source=dict(sorted(by_source.items())),
        resolved_labels=None if resolved_rules is None else len(resolved_rules),
        auto_labels=auto,
        currency=cfg.currency,
        labels_saved=estimate_labels_saved(labels_by_strategy, random_ratios),
        idle_gap_s=float(idle_gap_s),
        notes=notes,
    )


def _iso(value: Any) -> str | None:
    dt = _utc(value)
    return None if dt is None else dt.isoformat()


def ops_from_store(
    store: Store,
    cfg: ProjectConfig,
    *,
    random_ratios: Mapping[str, float] | None = None,
    idle_gap_s: float = DEFAULT_IDLE_GAP_S,
) -> OpsMetrics:
    """:func:`compute_ops` over everything in ``store``, with the resolved labels of the project's quality rules."""
    from labelloop.engine.quality.assess import resolve_store

    _, resolution = resolve_store(store, cfg)
    return compute_ops(
        store.label_events(),
        store.rounds(),
        store.pushed_tasks(),
        config=cfg.ops,
        resolved_rules={i: r.rule for i, r in resolution.labels.items()},
        random_ratios=random_ratios,
        idle_gap_s=idle_gap_s,
    )
