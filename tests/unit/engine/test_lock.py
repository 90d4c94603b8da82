"""The cycle lock against real processes: a held lock refuses a second run at once, naming the holder; a holder
killed with SIGKILL leaves the lock free and the next run reports that it took over."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.engine.scheduling import CycleLock, LockHeld

HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from labelloop.engine.scheduling import CycleLock
    with CycleLock(sys.argv[1], command="nightly-holder") as lock:
        if len(sys.argv) > 2:  # a child that inherits every descriptor it may (close_fds=False)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], close_fds=False)
            print(child.pid, flush=True)
        print("locked", lock.holder["started_at"], flush=True)
        if sys.stdin.readline().strip() != "release":
            time.sleep(600)
    """
)


def _start_holder(lock_path: Path, *, with_child: bool = False) -> tuple[subprocess.Popen[str], str, int | None]:
    args = [sys.executable, "-c", HOLDER, str(lock_path)] + (["child"] if with_child else [])
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline()) if with_child else None
    line = proc.stdout.readline().split()
    assert line and line[0] == "locked", f"holder did not take the lock: {line}"
    return proc, line[1], child


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str] | int]]:
    started: list[subprocess.Popen[str] | int] = []
    yield started
    for p in started:
        if isinstance(p, int):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        elif p.poll() is None:
            p.kill()
            p.wait()


def test_second_acquire_fails_at_once_naming_the_holder(tmp_path: Path, procs: list) -> None:
    path = tmp_path / "cycle.lock"
    holder, started_at, _ = _start_holder(path)
    procs.append(holder)

    with pytest.raises(LockHeld) as info:
        CycleLock(path).acquire()
    message = str(info.value)
    assert f"pid {holder.pid}" in message
    assert f"host {socket.gethostname()}" in message
    assert f"since {started_at}" in message
    assert "nightly-holder" in message
    assert info.value.holder["pid"] == holder.pid
    # Refused without waiting for the holder: it is still running and still holds the lock.
    assert holder.poll() is None
    with pytest.raises(LockHeld):
        CycleLock(path).acquire()


def test_second_process_is_refused_too(tmp_path: Path, procs: list) -> None:
    path = tmp_path / "cycle.lock"
    holder, _, _ = _start_holder(path)
    procs.append(holder)
    contender = (
        "import sys\nfrom labelloop.engine.scheduling import CycleLock, LockHeld\n"
        "try:\n    CycleLock(sys.argv[1]).acquire()\nexcept LockHeld as e:\n    print(e)\n    sys.exit(9)\n"
    )
    r = subprocess.run([sys.executable, "-c", contender, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert f"pid {holder.pid}" in r.stdout
    assert holder.poll() is None


def test_sigkilled_holder_is_taken_over_and_reported(
    tmp_path: Path, procs: list, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cycle.lock"
    holder, started_at, _ = _start_holder(path)
    procs.append(holder)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait() == -signal.SIGKILL

    lock = CycleLock(path)
    with caplog.at_level(logging.WARNING, logger="labelloop.engine.scheduling.lock"), lock:
        assert lock.took_over is not None
        assert lock.took_over.state == "dead"
        assert lock.took_over.holder["pid"] == holder.pid
        assert lock.took_over.holder["started_at"] == started_at
        assert lock.read_holder()["pid"] == os.getpid()
    assert any("took over" in r.getMessage() and str(holder.pid) in r.getMessage() for r in caplog.records)
    assert not lock.record_path.exists()


def test_cleanly_released_lock_is_no_takeover(tmp_path: Path, procs: list) -> None:
    path = tmp_path / "cycle.lock"
    holder, _, _ = _start_holder(path)
    procs.append(holder)
    holder.communicate("release\n", timeout=120)
    assert holder.returncode == 0
    with CycleLock(path) as lock:
        assert lock.took_over is None


def test_lock_is_not_inherited_by_children(tmp_path: Path, procs: list) -> None:
    """A server the cycle started must not keep the lock after the cycle died."""
    path = tmp_path / "cycle.lock"
    holder, _, child = _start_holder(path, with_child=True)
    procs.extend([holder, child])
    holder.kill()
    holder.wait()
    os.kill(child, 0)  # the child outlives its parent
    with CycleLock(path) as lock:
        assert lock.took_over is not None and lock.took_over.state == "dead"


def test_record_from_another_host_is_not_judged_dead(tmp_path: Path) -> None:
    path = tmp_path / "cycle.lock"
    first = CycleLock(path).acquire()
    record = {**first.read_holder(), "host": "other-host.invalid", "pid": 4242}
    first._write_record(record)
    # The flock is held: refused, naming the other host's holder.
    with pytest.raises(LockHeld, match=r"pid 4242 on host other-host\.invalid"):
        CycleLock(path).acquire()
    # The flock is free (its holder is gone) but the record says another host: taken, reported as unchecked.
    os.close(first._fd)  # the kernel drops the flock, the record stays: what a dead holder leaves
    first._fd = None
    with CycleLock(path) as lock:
        assert lock.took_over is not None
        assert lock.took_over.state == "other_host"
        assert "other-host.invalid" in lock.took_over.detail


def test_reused_pid_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "cycle.lock"
    path.with_name("cycle.lock.holder.json").write_text(
        json.dumps({"pid": os.getpid(), "pid_started": 1.0, "host": socket.gethostname(), "started_at": "x"})
    )
    with CycleLock(path) as lock:
        assert lock.took_over is not None and lock.took_over.state == "pid_reused"


def test_release_on_error_and_reacquire(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cycle.lock"
    lock = CycleLock(path, command="test")
    with pytest.raises(ValueError, match="boom"), lock:
        assert lock.held and lock.read_holder()["command"] == "test"
        raise ValueError("boom")
    assert not lock.held and lock.read_holder() == {}
    with CycleLock(path) as again:
        assert again.took_over is None
    with pytest.raises(RuntimeError, match="already held"), lock:
        lock.acquire()
