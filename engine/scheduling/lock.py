"""The cycle lock: at most one cycle (pull, check, train, export) of a project runs at a time.

Two parts, each covering what the other cannot:

* an exclusive, non-blocking ``fcntl.flock`` on a lock file. The kernel releases it when its holder dies, however
  it dies (``kill -9``, OOM), so a dead run never blocks the next night. The descriptor is not inherited by child
  processes (Python opens files non-inheritable), so a server a cycle starts cannot keep the lock alive after it.
* a JSON record of the holder (pid, host, start time in UTC, command) in ``<lock>.holder.json``, written atomically.
  It is what a refused run reports (:class:`LockHeld`), and, when it is still there although the lock was free, it
  says the previous holder died without releasing: the new holder logs that it took over (:class:`Takeover`).

The record is only information: the flock alone decides who holds the lock. A record left by a process on another
host (a lock file on a shared filesystem) cannot be checked for liveness from here, so it is never a reason to take
over; the lock is taken only because the flock was free, and the takeover says the holder could not be checked.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import socket
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psutil

log = logging.getLogger(__name__)

HolderState = Literal["dead", "pid_reused", "alive_without_lock", "other_host", "unreadable"]


class LockHeld(RuntimeError):
    """Another run holds the lock. ``holder`` is its record (empty if it has not written one yet)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        if holder:
            who = (
                f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started_at')} "
                f"(command: {holder.get('command')})"
            )
        else:
            who = "a process that has not written its holder record yet"
        super().__init__(f"cycle lock {path} is held by {who}")


@dataclass(frozen=True)
class Takeover:
    """The lock was free but the previous holder's record was still there: it ended without releasing."""

    holder: dict[str, Any]
    state: HolderState
    detail: str


def _process_started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _judge(holder: dict[str, Any], host: str) -> tuple[HolderState, str]:
    """Why a record outlived its lock, checked as far as this host can."""
    pid, their_host = holder.get("pid"), holder.get("host")
    if not isinstance(pid, int) or not their_host:
        return "unreadable", f"holder record without pid/host: {holder}"
    if their_host != host:
        return "other_host", (
            f"previous holder pid {pid} ran on host {their_host}, which this host ({host}) cannot check; "
            "taking the lock because the flock was free"
        )
    started = _process_started(pid)
    if started is None or not psutil.pid_exists(pid):
        return "dead", f"previous holder pid {pid} on {host} is no longer alive"
    recorded = holder.get("pid_started")
    if isinstance(recorded, int | float) and abs(started - recorded) > 1.0:
        return "pid_reused", f"pid {pid} on {host} now belongs to a later process (the holder died)"
    return "alive_without_lock", f"pid {pid} on {host} is alive but no longer holds the lock"


class CycleLock:
    """An exclusive lock on ``path`` for one cycle run; a second :meth:`acquire` anywhere fails at once.

    Use as a context manager (``with CycleLock(path):``) or with :meth:`acquire` / :meth:`release`. ``command``
    is recorded for whoever is refused (default: this process's command line).
    """

    def __init__(self, path: str | Path, *, command: str | None = None) -> None:
        self.path = Path(path)
        self.record_path = self.path.with_name(self.path.name + ".holder.json")
        self.command = command if command is not None else shlex.join(sys.argv)
        self.host = socket.gethostname()
        self.holder: dict[str, Any] | None = None
        self.took_over: Takeover | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def read_holder(self) -> dict[str, Any]:
        """The current holder record ({} if none or unreadable: a record being replaced is never half-read, since
        it is written to a temporary file and renamed)."""
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("cycle lock record %s is unreadable: %s", self.record_path, e)
            return {"unreadable": str(e)}
        return data if isinstance(data, dict) else {"unreadable": f"not a JSON object: {data!r}"}

    def acquire(self) -> CycleLock:
        """Take the lock or raise :class:`LockHeld` naming the holder; never waits."""
        if self._fd is not None:
            raise RuntimeError(f"cycle lock {self.path} is already held by this CycleLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.path, self.read_holder()) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        try:
            previous = self.read_holder()
            if previous:
                state, detail = _judge(previous, self.host)
                self.took_over = Takeover(previous, state, detail)
                log.warning(
                    "cycle lock %s: took over from a holder that did not release it (%s): %s",
                    self.path,
                    state,
                    detail,
                )
            me = psutil.Process()
            self.holder = {
                "pid": me.pid,
                "pid_started": me.create_time(),
                "host": self.host,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": self.command,
            }
            self._write_record(self.holder)
        except BaseException:
            self.release()
            raise
        log.info("cycle lock %s acquired pid=%d host=%s", self.path, self.holder["pid"], self.host)
        return self

    def _write_record(self, record: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.record_path.parent, prefix=f".{self.record_path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, sort_keys=True)
            os.replace(tmp, self.record_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def release(self) -> None:
        """Remove the holder record, then drop the flock (in that order, so a record without a lock always means
        a holder that died). Releasing a lock not held does nothing."""
        if self._fd is None:
            return
        try:
            self.record_path.unlink(missing_ok=True)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            self.holder = None
        log.info("cycle lock %s released", self.path)

    def __enter__(self) -> CycleLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
