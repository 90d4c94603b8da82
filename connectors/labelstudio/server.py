"""A real, local Label Studio for development, demos and integration tests.

Label Studio pins Django, pyarrow and its own SDK, so it lives in its own virtual environment
(``.venvs/labelstudio``), created on first use from ``server-constraints.txt``. It runs on 127.0.0.1 with SQLite in a
data directory (default ``.labelloop/labelstudio/``) holding the database, the server log, the pid file and a 0600
``credentials.json`` with the admin user and its API token (generated once; ``LABEL_STUDIO_API_KEY`` overrides it).

When to use what:
- :func:`start` / :func:`stop` / :func:`status` manage one server per data dir; ``start`` is idempotent.
- :func:`admin_token` gives the token for :func:`labelloop.connectors.labelstudio.client.connect`.
- :func:`ensure_user` adds an annotator with a known token (for the simulator and several-annotator tests).
- :func:`build_start_command` / :func:`build_env` are pure, so the start-up recipe is unit-tested without a server.

Command line: ``python -m labelloop.connectors.labelstudio.server start|stop|status|ensure-user EMAIL``.
The token is never logged or printed; only the path of the file that holds it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labelloop.connectors.labelstudio.errors import PortInUseError, ServerSetupError

log = logging.getLogger(__name__)

LABEL_STUDIO_VERSION = "1.23.2"
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ADMIN_EMAIL = "admin@labelloop.local"
CONSTRAINTS_FILE = Path(__file__).with_name("server-constraints.txt")
# connectors/labelstudio/server.py -> repository root (the package is installed editable from the checkout).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Variables Label Studio reads besides its LABEL_STUDIO_* ones; inherited values would override our flags/users.
_CLEARED_ENV = (
    "PORT",
    "HOST",
    "USERNAME",
    "PASSWORD",
    "USER_TOKEN",
    "LABEL_STUDIO_HOST",
    "LABEL_STUDIO_PORT",
    "HEARTEX_USERNAME",
    "HEARTEX_PASSWORD",
    "HEARTEX_USER_TOKEN",
)
_CREDENTIALS_FILE = "credentials.json"
_USERS_FILE = "users.json"
_PID_FILE = "server.pid"
_LOG_FILE = "server.log"


@dataclass(frozen=True)
class ServerConfig:
    """Where and how one local server runs. Defaults: project-local dirs, port 8080 on 127.0.0.1."""

    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".labelloop" / "labelstudio")
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    venv_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".venvs" / "labelstudio")
    admin_email: str = DEFAULT_ADMIN_EMAIL

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"host must be a loopback address (we never expose the server); got {self.host!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be in 1..65535; got {self.port}")
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        object.__setattr__(self, "venv_dir", Path(self.venv_dir).resolve())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def executable(self) -> Path:
        return self.venv_dir / "bin" / "label-studio"


@dataclass(frozen=True)
class Credentials:
    """A Label Studio user we can act as. ``repr`` hides the secrets so they never reach a log by accident."""

    email: str
    password: str = field(repr=False)
    token: str = field(repr=False)


@dataclass(frozen=True)
class ServerStatus:
    """``running``: our pid file names a live process; ``healthy``: ``/health/`` answers UP."""

    url: str
    pid: int | None
    running: bool
    healthy: bool


# --------------------------------------------------------------------------------------------------- pure helpers


def build_env(config: ServerConfig, admin: Credentials, base_env: Mapping[str, str]) -> dict[str, str]:
    """The environment for ``label-studio start``: non-interactive first boot, no telemetry, no outside calls.

    Inherited PORT/HOST/USERNAME/PASSWORD are removed because Label Studio reads them and they would silently win
    over our flags and user.
    """
    env = {k: v for k, v in base_env.items() if k not in _CLEARED_ENV}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(config.data_dir),
            "LABEL_STUDIO_USERNAME": admin.email,
            "LABEL_STUDIO_PASSWORD": admin.password,
            "LABEL_STUDIO_USER_TOKEN": admin.token,
            # Only effective on the first boot of an empty data dir: makes `Authorization: Token <hex>` work.
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            # Empty on purpose: the package ships real DSNs.
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
            # Else it queries the package index on start.
            "LATEST_VERSION_CHECK": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def build_user_env(config: ServerConfig, user: Credentials, base_env: Mapping[str, str]) -> dict[str, str]:
    """The environment for ``label-studio init`` of an extra user, which reads the user from LABEL_STUDIO_USERNAME,
    _PASSWORD and _USER_TOKEN: passing them here rather than as flags keeps the secrets out of ``ps`` output.
    """
    env = {k: v for k, v in base_env.items() if k not in _CLEARED_ENV}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(config.data_dir),
            "LABEL_STUDIO_USERNAME": user.email,
            "LABEL_STUDIO_PASSWORD": user.password,
            "LABEL_STUDIO_USER_TOKEN": user.token,
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
            "LATEST_VERSION_CHECK": "false",
        }
    )
    return env


def build_start_command(config: ServerConfig) -> list[str]:
    """``label-studio start`` with every network-relevant setting as an explicit flag (env would be overridable)."""
    return [
        str(config.executable),
        "start",
        "--no-browser",
        "--internal-host",
        config.host,
        "--port",
        str(config.port),
        "--data-dir",
        str(config.data_dir),
    ]


def build_user_command(config: ServerConfig) -> list[str]:
    """``label-studio init``: creates the user named in :func:`build_user_env` (an existing user is left as is)."""
    return [str(config.executable), "init", "--data-dir", str(config.data_dir)]


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on (host, port). Checked before start: Label Studio would move to port+1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the server's own socket does: connections in TIME_WAIT (e.g. our health checks just before a stop) do
        # not block it, while a LISTENING socket on the port still makes bind fail on Linux.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port the OS says is free now (for tests; a race with other processes is possible but unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------------- file helpers


def _write_secret_json(path: Path, payload: object) -> None:
    """Write atomically with mode 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ServerSetupError(f"{path} is not valid JSON ({exc}); delete it only if the data dir is new") from exc
    if not isinstance(data, dict):
        raise ServerSetupError(f"{path} must hold a JSON object")
    return data


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two processes never install or start into the same place at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------- credentials


def admin_credentials(config: ServerConfig) -> Credentials:
    """The admin user, created on first call: token ``secrets.token_hex(20)`` (40 chars, the legacy format).

    ``LABEL_STUDIO_API_KEY`` in the environment overrides the stored token (it must then be the token the data dir
    was first booted with).
    """
    path = config.data_dir / _CREDENTIALS_FILE
    with _file_lock(config.data_dir / ".credentials.lock"):
        stored = _read_json(path)
        if not stored:
            stored = {
                "email": config.admin_email,
                "password": secrets.token_urlsafe(18),
                "token": secrets.token_hex(20),
            }
            _write_secret_json(path, stored)
            log.info("labelstudio.credentials created path=%s email=%s", path, config.admin_email)
    token = os.environ.get("LABEL_STUDIO_API_KEY") or str(stored["token"])
    return Credentials(email=str(stored["email"]), password=str(stored["password"]), token=token)


def admin_token(config: ServerConfig | None = None) -> str:
    """The admin API token for ``connect(url, token)``; never log it."""
    return admin_credentials(config or ServerConfig()).token


def credentials_path(config: ServerConfig) -> Path:
    """Where the admin token lives (safe to print; the token itself is not)."""
    return config.data_dir / _CREDENTIALS_FILE


# ------------------------------------------------------------------------------------------------------- install


def _server_python() -> str:
    """A Python 3.11 for the server venv: ``LABELLOOP_SERVER_PYTHON``, else ``python3.11``, else this one if 3.11."""
    override = os.environ.get("LABELLOOP_SERVER_PYTHON")
    if override:
        return override
    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise ServerSetupError("python3.11 not found (set LABELLOOP_SERVER_PYTHON to a Python 3.11 interpreter)")


def _install_fingerprint() -> str:
    """Changes when the pinned versions change, so an outdated server venv is reinstalled, not silently reused."""
    digest = hashlib.sha256(CONSTRAINTS_FILE.read_bytes())
    digest.update(LABEL_STUDIO_VERSION.encode())
    return digest.hexdigest()


def ensure_installed(config: ServerConfig) -> Path:
    """Create ``config.venv_dir`` with ``label-studio`` pinned by ``server-constraints.txt``, once (≈95–190 s).

    A stamp file holding the constraints' fingerprint marks a complete install; a half-finished one (crash, Ctrl-C)
    has no stamp and is redone. pip's output goes to ``install.log`` in the venv.
    """
    stamp = config.venv_dir / ".installed"
    fingerprint = _install_fingerprint()
    if stamp.is_file() and stamp.read_text().strip() == fingerprint and config.executable.is_file():
        return config.executable
    config.venv_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(config.venv_dir.parent / f".{config.venv_dir.name}.lock"):
        if stamp.is_file() and stamp.read_text().strip() == fingerprint and config.executable.is_file():
            return config.executable
        started = time.monotonic()
        log.info("labelstudio.install start venv=%s version=%s", config.venv_dir, LABEL_STUDIO_VERSION)
        if config.venv_dir.exists():
            shutil.rmtree(config.venv_dir)
        _run_logged([_server_python(), "-m", "venv", str(config.venv_dir)], None)
        config.venv_dir.mkdir(parents=True, exist_ok=True)
        install_log = config.venv_dir / "install.log"
        pip = [str(config.venv_dir / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        _run_logged([*pip, "-c", str(CONSTRAINTS_FILE), f"label-studio=={LABEL_STUDIO_VERSION}"], install_log)
        if not config.executable.is_file():
            raise ServerSetupError(f"install finished but {config.executable} is missing; see {install_log}")
        stamp.write_text(fingerprint + "\n")
        log.info("labelstudio.install done venv=%s seconds=%.1f", config.venv_dir, time.monotonic() - started)
    return config.executable


def _run_logged(cmd: list[str], log_path: Path | None) -> None:
    """Run a set-up command; on failure raise with the log's tail (these commands carry no secrets)."""
    if log_path is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        output = proc.stdout + proc.stderr
    else:
        with open(log_path, "w") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        output = log_path.read_text()
    if proc.returncode != 0:
        tail = "\n".join(line for line in output.splitlines() if "is ignored: it is neither" not in line)[-2000:]
        raise ServerSetupError(f"command failed (exit {proc.returncode}): {cmd[0]} {cmd[1]} ...\n{tail}")


# ------------------------------------------------------------------------------------------------ process control


def _health(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/", timeout=timeout) as resp:
            return resp.status == 200 and json.loads(resp.read() or b"{}").get("status") == "UP"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _read_pid(config: ServerConfig) -> int | None:
    try:
        return int((config.data_dir / _PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _pid_is_our_server(pid: int) -> bool:
    """Alive and a label-studio process (guards against a recycled pid after a reboot or crash)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return True  # no /proc: trust the live pid
    if b"label-studio" not in cmdline and b"label_studio" not in cmdline:
        return False
    # A zombie still answers kill(0); it is not running.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def status(config: ServerConfig | None = None) -> ServerStatus:
    """What our pid file says and whether the server answers; cheap, starts nothing."""
    config = config or ServerConfig()
    pid = _read_pid(config)
    running = pid is not None and _pid_is_our_server(pid)
    return ServerStatus(
        url=config.url, pid=pid if running else None, running=running, healthy=running and _health(config.url)
    )


def start(config: ServerConfig | None = None, *, timeout_s: float = 600.0) -> ServerStatus:
    """Start the server if it is not already running for this data dir, and wait until ``/health/`` is UP.

    Idempotent: a live pid + healthy answer returns at once (a second ``start`` never launches a second server).
    Raises :class:`PortInUseError` if another process holds the port, :class:`ServerSetupError` if the server
    exits or stays unhealthy (the message points to ``server.log``).
    """
    config = config or ServerConfig()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(config.data_dir / ".server.lock"):
        current = status(config)
        if current.running:
            if not current.healthy:
                _wait_healthy(config, current.pid, timeout_s)
            log.info("labelstudio.start already_running url=%s pid=%s", config.url, current.pid)
            return status(config)
        (config.data_dir / _PID_FILE).unlink(missing_ok=True)
        if not port_is_free(config.host, config.port):
            raise PortInUseError(
                f"port {config.port} on {config.host} is already in use by another process; "
                f"stop it or choose another port (Label Studio would silently move to {config.port + 1})"
            )
        ensure_installed(config)
        admin = admin_credentials(config)
        log_path = config.data_dir / _LOG_FILE
        started = time.monotonic()
        with open(log_path, "ab") as log_fh:
            proc = subprocess.Popen(
                build_start_command(config),
                cwd=config.data_dir,
                env=build_env(config, admin, os.environ),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the caller's terminal does not kill it half-way
            )
        (config.data_dir / _PID_FILE).write_text(f"{proc.pid}\n")
        log.info("labelstudio.start launched url=%s pid=%s data_dir=%s", config.url, proc.pid, config.data_dir)
        try:
            _wait_healthy(config, proc.pid, timeout_s, proc=proc)
        except ServerSetupError:
            _terminate(proc.pid, 10.0)
            (config.data_dir / _PID_FILE).unlink(missing_ok=True)
            raise
        log.info("labelstudio.start healthy url=%s seconds=%.1f", config.url, time.monotonic() - started)
        return status(config)


def _wait_healthy(
    config: ServerConfig, pid: int | None, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    log_path = config.data_dir / _LOG_FILE
    while time.monotonic() < deadline:
        if _health(config.url):
            return
        exited = proc.poll() is not None if proc is not None else (pid is None or not _pid_is_our_server(pid))
        if exited:
            raise ServerSetupError(f"Label Studio exited during start-up; see {log_path}")
        time.sleep(0.5)
    raise ServerSetupError(f"Label Studio did not answer {config.url}/health/ within {timeout_s:.0f} s; see {log_path}")


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM, wait, then SIGKILL: it stops in ≈1 s on SIGTERM."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if not _pid_is_our_server(pid):
            return
        time.sleep(0.2)
    log.warning("labelstudio.stop sigkill pid=%s", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(config: ServerConfig | None = None, *, timeout_s: float = 30.0) -> bool:
    """Stop the server named by the pid file; True if one was running. Never kills by name."""
    config = config or ServerConfig()
    with _file_lock(config.data_dir / ".server.lock"):
        pid = _read_pid(config)
        was_running = pid is not None and _pid_is_our_server(pid)
        if pid is not None and was_running:
            _terminate(pid, timeout_s)
            log.info("labelstudio.stop stopped pid=%s", pid)
        (config.data_dir / _PID_FILE).unlink(missing_ok=True)
        return was_running


# ---------------------------------------------------------------------------------------------------------- users


def ensure_user(email: str, config: ServerConfig | None = None) -> str:
    """An annotator with a known token (created once via ``label-studio init``, ≈4 s); returns its token.

    Tokens are kept in the data dir's 0600 ``users.json``. A user that exists on the server but not in that file
    cannot be recovered (the server never shows tokens): that raises rather than guessing.
    """
    config = config or ServerConfig()
    if "@" not in email or any(c.isspace() for c in email):
        raise ValueError(f"email must look like an email address; got {email!r}")
    path = config.data_dir / _USERS_FILE
    with _file_lock(config.data_dir / ".credentials.lock"):
        users = _read_json(path)
        known = users.get(email)
        if isinstance(known, dict) and known.get("token"):
            return str(known["token"])
        if email == admin_credentials_email(config):
            raise ValueError(f"{email} is the admin user; use admin_token()")
        password, token = secrets.token_urlsafe(18), secrets.token_hex(20)
        ensure_installed(config)
        user = Credentials(email=email, password=password, token=token)
        proc = subprocess.run(
            build_user_command(config),
            cwd=config.data_dir,
            env=build_user_env(config, user, os.environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )
        output = (proc.stdout + proc.stderr).replace(token, "<token>").replace(password, "<password>")
        if proc.returncode != 0:
            raise ServerSetupError(f"creating user {email} failed (exit {proc.returncode}): {output[-1500:]}")
        if "already exists" in output and "User" in output:
            raise ServerSetupError(
                f"user {email} already exists on the server but its token is not in {path}; use another email"
            )
        users[email] = {"password": password, "token": token}
        _write_secret_json(path, users)
        log.info("labelstudio.user created email=%s", email)
        return token


def admin_credentials_email(config: ServerConfig) -> str:
    stored = _read_json(config.data_dir / _CREDENTIALS_FILE)
    return str(stored.get("email", config.admin_email))


# ------------------------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    """``start|stop|status|ensure-user EMAIL|install``; prints the URL and the token FILE, never the token."""
    parser = argparse.ArgumentParser(prog="python -m labelloop.connectors.labelstudio.server")
    parser.add_argument("command", choices=["start", "stop", "status", "install", "ensure-user"])
    parser.add_argument("email", nargs="?", help="for ensure-user")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LABELLOOP_LABELSTUDIO_PORT", DEFAULT_PORT)))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    kwargs: dict[str, object] = {"port": args.port}
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    config = ServerConfig(**kwargs)  # type: ignore[arg-type]
    out = sys.stdout.write
    try:
        if args.command == "install":
            out(f"{ensure_installed(config)}\n")
        elif args.command == "start":
            st = start(config)
            out(f"url={st.url} pid={st.pid} token_file={credentials_path(config)}\n")
        elif args.command == "stop":
            out("stopped\n" if stop(config) else "not running\n")
        elif args.command == "status":
            st = status(config)
            out(f"url={st.url} running={st.running} healthy={st.healthy} pid={st.pid}\n")
            return 0 if st.healthy else 3
        elif args.command == "ensure-user":
            if not args.email:
                parser.error("ensure-user needs an EMAIL")
            ensure_user(args.email, config)
            out(f"user {args.email} ready; token in {config.data_dir / _USERS_FILE}\n")
    except (ServerSetupError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
