"""Server start-up recipe, credentials and process control, without a real server."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.errors import PortInUseError
from labelloop.connectors.labelstudio.server import Credentials, ServerConfig


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(data_dir=tmp_path / "ls", port=18080, venv_dir=tmp_path / "venv")


def test_env_is_the_non_interactive_recipe_and_clears_overriding_vars(config: ServerConfig) -> None:
    admin = Credentials(email="admin@x.org", password="pw", token="t" * 40)
    base = {"PORT": "9999", "HOST": "0.0.0.0", "USERNAME": "bob", "PASSWORD": "x", "PATH": "/usr/bin"}
    env = server.build_env(config, admin, base)
    for key in ("PORT", "HOST", "USERNAME", "PASSWORD"):
        assert key not in env
    assert env["PATH"] == "/usr/bin"
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(config.data_dir)
    assert env["LABEL_STUDIO_USERNAME"] == "admin@x.org"
    assert env["LABEL_STUDIO_USER_TOKEN"] == "t" * 40
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert env["SENTRY_DSN"] == "" and env["FRONTEND_SENTRY_DSN"] == ""
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert base["PORT"] == "9999"  # the caller's mapping is not modified


def test_user_env_names_the_new_user_not_the_admin(config: ServerConfig) -> None:
    user = Credentials(email="ann@x.org", password="pw", token="k" * 40)
    base = {"LABEL_STUDIO_USERNAME": "admin@x.org", "USERNAME": "bob", "HEARTEX_USERNAME": "h", "PORT": "1"}
    env = server.build_user_env(config, user, base)
    assert env["LABEL_STUDIO_USERNAME"] == "ann@x.org"
    assert env["LABEL_STUDIO_USER_TOKEN"] == "k" * 40
    assert "USERNAME" not in env and "HEARTEX_USERNAME" not in env and "PORT" not in env
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(config.data_dir)


def test_start_command_passes_host_port_and_data_dir_as_flags(config: ServerConfig) -> None:
    cmd = server.build_start_command(config)
    assert cmd[0] == str(config.venv_dir / "bin" / "label-studio")
    assert cmd[1] == "start"
    assert "--no-browser" in cmd
    assert cmd[cmd.index("--internal-host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "18080"
    assert cmd[cmd.index("--data-dir") + 1] == str(config.data_dir)


def test_user_command_carries_no_secret(config: ServerConfig) -> None:
    assert server.build_user_command(config)[1:] == ["init", "--data-dir", str(config.data_dir)]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.2", "example.org"])
def test_only_loopback_hosts(host: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ServerConfig(data_dir=tmp_path, host=host)


def test_admin_credentials_created_once_with_mode_0600(config: ServerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    first = server.admin_credentials(config)
    again = server.admin_credentials(config)
    assert first == again
    assert len(first.token) == 40 and all(c in "0123456789abcdef" for c in first.token)
    mode = stat.S_IMODE(os.stat(server.credentials_path(config)).st_mode)
    assert mode == 0o600
    assert first.token not in repr(first) and first.password not in repr(first)


def test_env_token_overrides_the_stored_one(config: ServerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "e" * 40)
    assert server.admin_token(config) == "e" * 40


def test_port_taken_by_another_process_is_a_clear_error_before_any_install(config: ServerConfig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        busy = ServerConfig(data_dir=config.data_dir, port=port, venv_dir=config.venv_dir)
        assert not server.port_is_free("127.0.0.1", port)
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start(busy)
    assert not config.venv_dir.exists()  # failed before installing anything
    assert server.port_is_free("127.0.0.1", port)


def test_status_and_stop_without_a_server(config: ServerConfig) -> None:
    config.data_dir.mkdir(parents=True)
    (config.data_dir / "server.pid").write_text(f"{os.getpid()}\n")  # a live pid that is NOT label-studio
    st = server.status(config)
    assert not st.running and not st.healthy and st.pid is None
    assert server.stop(config) is False  # never signals a process that is not ours
    assert not (config.data_dir / "server.pid").exists()


def test_cli_status_reports_not_running(config: ServerConfig, capsys: pytest.CaptureFixture[str]) -> None:
    rc = server.main(["status", "--port", "18080", "--data-dir", str(config.data_dir)])
    assert rc == 3
    assert "running=False" in capsys.readouterr().out
