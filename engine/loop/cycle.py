"""The unattended cycle: ingest → pull → quality → gate → train → evaluate → promote → prelabel → select → push.

What makes it safe to run from cron at night with nobody watching:

* **locked**: one :class:`~labelloop.engine.scheduling.lock.CycleLock` per project; a second run fails at once
  with exit 9 naming the holder.
* **resumable**: after each step its report is written to the store (``sync_state`` row ``cycle:state``). A run
  that died (``kill -9``, a server down) leaves its finished steps there; the next run carries them over and starts
  at the first unfinished one. Every step is also idempotent by itself (ingest by file sha256, pull by cursor written
  with its events, content-addressed training, push skipping items already in Label Studio), so a step cut half-way
  is simply run again.
* **idempotent**: a run right after a finished one finds nothing new in any step and exits 10 (nothing to do).
  Training, the gates and the promotion decision are skipped when the labels, the pool and their config are
  unchanged since they last ran (a fingerprint kept in the same state row).
* **one JSON summary** (:class:`CycleSummary`): per-step status, counts, seconds, model versions, gate results and
  the exit code a scheduler branches on.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.exc import OperationalError

from labelloop.engine.exit_codes import ExitCode
from labelloop.engine.scheduling.lock import CycleLock, LockHeld

if TYPE_CHECKING:
    from labelloop.connectors.labelstudio.client import LabelStudioClient
    from labelloop.engine.api import Project

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = (
    "ingest",
    "pull",
    "quality",
    "gate",
    "train",
    "evaluate",
    "promote",
    "drift",
    "prelabel",
    "select",
    "push",
)
STATE_KEY = "cycle:state"
KILL_ENV = "LABELLOOP_CYCLE_KILL_AFTER"  # test hook: SIGKILL this process right after the named step is recorded

StepStatus = Literal["done", "noop", "skipped", "blocked", "failed"]


@dataclass
class StepOutcome:
    """What a step function returns: ``done`` (it changed something), ``noop`` (ran, nothing new), ``skipped``
    (not applicable now, ``note`` says why) or ``blocked`` (a gate stops the cycle)."""

    status: StepStatus
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class StepReport:
    step: str
    status: StepStatus
    seconds: float
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    carried_over: bool = False  # finished by an earlier, interrupted run of the same cycle


@dataclass
class CycleSummary:
    project: str
    run_id: str
    started_at: str
    finished_at: str = ""
    resumed_from: str | None = None
    steps: list[StepReport] = field(default_factory=list)
    model_versions: dict[str, str | None] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    total_s: float = 0.0
    exit_code: int = int(ExitCode.OK)
    outcome: str = ""
    message: str = ""
    lock_holder: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None  # the drift check of this run (alert, tests, the strategy it triggered)
    budget: dict[str, Any] | None = None  # the period's budget after this run; ``capped`` when a cap cut a round
    pushgateway: str | None = None  # where the summary's metrics were pushed (ops.pushgateway_url), or why not

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_name"] = ExitCode(self.exit_code).name
        return d

    def step(self, name: str) -> StepReport | None:
        return next((s for s in self.steps if s.step == name), None)


ExitCodeFor = Callable[[BaseException], ExitCode]


def _default_exit_code(err: BaseException) -> ExitCode:
    """The CLI's documented mapping of engine exceptions onto exit codes (one table for every command)."""
    from labelloop.engine.cli.common import ERROR_EXIT_CODES

    if isinstance(err, OperationalError):  # the database went away or stayed locked past its busy timeout
        return ExitCode.STORE_UNAVAILABLE
    for exc_type, code in ERROR_EXIT_CODES:
        if isinstance(err, exc_type):
            return code
    return ExitCode.INTERNAL_ERROR


class CycleContext:
    """What the steps share: the project, the persisted state, and a Label Studio client opened on first use."""

    def __init__(self, project: Project, state: dict[str, Any], client: LabelStudioClient | None) -> None:
        self.project = project
        self.state = state
        self._client = client

    @property
    def run(self) -> dict[str, Any]:
        return self.state["run"]

    @property
    def memory(self) -> dict[str, Any]:
        return self.state.setdefault("memory", {})

    def client(self) -> LabelStudioClient:
        if self._client is None:
            self._client = self.project.labelstudio()
        return self._client

    def save(self) -> None:
        self.project.store.put_sync(STATE_KEY, json.dumps(self.state, sort_keys=True, default=str))


def lock_path(project: Project) -> Path:
    return project.config.cycle.lock_path or project.workdir / "cycle.lock"


def load_state(project: Project) -> dict[str, Any]:
    raw = project.store.get_sync(STATE_KEY)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("cycle state in the store is not JSON; starting a fresh run")
        return {}
    return data if isinstance(data, dict) else {}


def run_cycle(
    project: Project,
    *,
    client: LabelStudioClient | None = None,
    exit_code_for: ExitCodeFor = _default_exit_code,
    command: str | None = None,
) -> CycleSummary:
    """One cycle of ``project`` under its lock; never raises for an expected failure: the summary carries the exit
    code and the message (lock held 9, gate blocked 8, service unreachable 7, store unavailable 4, ...)."""
    from labelloop.engine.loop.steps import STEP_FUNCTIONS

    started = time.perf_counter()
    summary = CycleSummary(
        project=project.config.project,
        run_id=uuid.uuid4().hex[:12],
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    lock = CycleLock(lock_path(project), command=command)
    try:
        lock.acquire()
    except LockHeld as err:
        summary.exit_code, summary.outcome, summary.message = int(ExitCode.LOCK_HELD), "lock_held", str(err)
        summary.lock_holder = err.holder
        summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        return summary
    try:
        _run_steps(project, summary, client, exit_code_for, STEP_FUNCTIONS)
    finally:
        lock.release()
        summary.total_s = round(time.perf_counter() - started, 3)
        summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return summary


def _run_steps(
    project: Project,
    summary: CycleSummary,
    client: LabelStudioClient | None,
    exit_code_for: ExitCodeFor,
    functions: dict[str, Callable[[CycleContext], StepOutcome]],
) -> None:
    try:
        state = load_state(project)
        serving = project.store.serving_model_version()
    except Exception as err:  # the store is missing, unreachable or locked before any step ran
        summary.exit_code = int(exit_code_for(err))
        summary.outcome, summary.message = "failed", _store_error(project, err) or f"store: {err}"
        return
    previous = state.get("run") or {}
    if previous and not previous.get("finished"):
        summary.resumed_from = previous.get("run_id")
        summary.run_id = previous.get("run_id") or summary.run_id
        state["run"] = {**previous, "resumed": int(previous.get("resumed", 0)) + 1}
        log.warning("cycle: resuming interrupted run %s after %s", summary.run_id, list(previous.get("completed", {})))
    else:
        state["run"] = {"run_id": summary.run_id, "started_at": summary.started_at, "finished": False, "completed": {}}
        state["run"]["serving_before"] = serving["id"] if serving else None
    ctx = CycleContext(project, state, client)
    kill_after = os.environ.get(KILL_ENV)
    completed: dict[str, Any] = ctx.run["completed"]
    for name in STEPS:
        if name in completed:
            summary.steps.append(StepReport(**{**completed[name], "carried_over": True}))
            continue
        t0 = time.perf_counter()
        try:
            outcome = functions[name](ctx)
        except Exception as err:
            code = exit_code_for(err)
            if code == ExitCode.INTERNAL_ERROR:
                log.exception("cycle step %s failed", name)
            reason = _store_error(project, err) or str(err)
            summary.steps.append(StepReport(name, "failed", round(time.perf_counter() - t0, 3), note=reason))
            summary.exit_code, summary.outcome = int(code), "failed"
            summary.message = f"step {name} failed: {reason}"
            _finish_summary(ctx, summary)
            _save_quietly(ctx)
            return
        report = StepReport(name, outcome.status, round(time.perf_counter() - t0, 3), outcome.counts, outcome.note)
        summary.steps.append(report)
        log.info("cycle step=%s status=%s seconds=%.2f %s", name, report.status, report.seconds, report.counts)
        if outcome.status == "blocked":
            ctx.run["finished"] = True
            ctx.save()
            summary.exit_code, summary.outcome = int(ExitCode.GATE_BLOCKED), "blocked"
            summary.message = f"step {name}: {outcome.note}"
            _finish_summary(ctx, summary)
            return
        completed[name] = asdict(report)
        try:
            ctx.save()
        except OperationalError as err:  # the step's own work is committed; only its record is lost: re-run redoes it
            del completed[name]
            report.status = "failed"
            report.note = _store_error(project, err) or str(err)
            summary.exit_code, summary.outcome = int(exit_code_for(err)), "failed"
            summary.message = f"step {name} ran but could not be recorded: {report.note}"
            _finish_summary(ctx, summary)
            return
        if kill_after == name:
            log.warning("cycle: %s=%s: killing this process (test hook)", KILL_ENV, name)
            os.kill(os.getpid(), signal.SIGKILL)
    ctx.run["finished"] = True
    ctx.save()
    did_something = any(s.status == "done" for s in summary.steps)
    pushed = summary.step("push")
    if ctx.run.get("budget_exhausted") and not (pushed and pushed.counts.get("tasks")):
        summary.exit_code, summary.outcome = int(ExitCode.BUDGET_EXHAUSTED), "budget_exhausted"
        summary.message = str(ctx.run["budget_exhausted"])
    elif did_something:
        summary.exit_code, summary.outcome = int(ExitCode.OK), "done"
        summary.message = "cycle finished" + (f" (resumed run {summary.resumed_from})" if summary.resumed_from else "")
    else:
        summary.exit_code, summary.outcome = int(ExitCode.NOTHING_TO_DO), "nothing_to_do"
        summary.message = "nothing new: no new file, annotation, model or round since the last cycle"
    _finish_summary(ctx, summary)


def _store_error(project: Project, err: BaseException) -> str | None:
    """One clear line for a database error (the store's URL, password hidden, and what went wrong), instead of
    SQLAlchemy's text with the whole SQL statement; ``None`` for any other error."""
    if not isinstance(err, OperationalError):
        return None
    from labelloop.engine.store.db import BUSY_TIMEOUT_ENV

    url = project.store.url
    reason = str(err.orig).strip() if err.orig is not None else str(err).splitlines()[0]
    if project.store.engine.dialect.name == "sqlite" and "locked" in reason:
        return (
            f"store {url} is locked: another connection held its write lock past the busy timeout "
            f"({project.store.busy_timeout_s:g} s: store.busy_timeout_s, else {BUSY_TIMEOUT_ENV}, else 30); the "
            "blocked write was rolled back, re-run when "
            "the store is free (the cycle resumes)"
        )
    return f"store {url} unavailable: {reason}"


def _finish_summary(ctx: CycleContext, summary: CycleSummary) -> None:
    serving = None
    try:
        row = ctx.project.store.serving_model_version()
        serving = row["id"] if row else None
    except Exception:  # the summary must still be written when the store is the problem
        log.debug("cycle: could not read the serving model for the summary", exc_info=True)
    summary.model_versions = {
        "serving_before": ctx.run.get("serving_before"),
        "candidate": ctx.run.get("candidate"),
        "serving_after": serving,
    }
    summary.gates = list(ctx.run.get("gates", []))
    summary.drift = ctx.run.get("drift")
    try:
        from labelloop.engine.rounds.budget import budget_state

        summary.budget = {
            **budget_state(ctx.project.store, ctx.project.config).as_dict(),
            "capped": ctx.run.get("capped", 0),
            "exhausted": ctx.run.get("budget_exhausted"),
        }
    except Exception as err:  # a budget that cannot be read must not hide the rest of the summary
        summary.budget = {"error": str(err)}
    _push_metrics(ctx, summary)


def _push_metrics(ctx: CycleContext, summary: CycleSummary) -> None:
    """Push the operations metrics (and the drift result) to the configured Pushgateway; a failed push is noted in
    the summary and logged, never fatal: the labels are safe either way."""
    cfg = ctx.project.config
    if not cfg.ops.pushgateway_url:
        return
    try:
        from labelloop.engine.metrics.ops import ops_from_store
        from labelloop.engine.metrics.prometheus import push_if_configured

        drift = (ctx.run.get("drift") or {}).get("report")
        push_if_configured(cfg, ops_from_store(ctx.project.store, cfg), drift=drift)
        summary.pushgateway = cfg.ops.pushgateway_url
    except Exception as err:
        log.warning("cycle: push to %s failed: %s", cfg.ops.pushgateway_url, err)
        summary.pushgateway = f"failed: {err}"


def _save_quietly(ctx: CycleContext) -> None:
    try:
        ctx.save()
    except Exception:
        log.warning("cycle: could not record the state after a failure (the store may be down)", exc_info=True)


def write_summary(summary: CycleSummary, path: Path) -> None:
    """Write the summary JSON atomically (a scheduler reading it never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary.as_dict(), sort_keys=True, default=str, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
