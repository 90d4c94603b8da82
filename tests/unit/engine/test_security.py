"""Security review, the parts that need no server: secrets refused in YAML at any depth, private files 0600 whatever
the umask, no PII in DEBUG logs of the redactor, no secret in a repr. The end-to-end scan after a real demo run is
tests/integration/labelstudio/test_security.py."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from labelloop.connectors.labelstudio import server
from labelloop.engine.config import ConfigError, load_config, parse_config
from labelloop.engine.ingest.identity import load_or_create_key
from labelloop.engine.store.db import create_store_engine


def _base() -> dict[str, Any]:
    return {"project": "sec", "task": {"labels": ["a", "b"]}}


def _nested(path: str, value: Any) -> dict[str, Any]:
    """A config with ``value`` at ``path`` (dots for mappings, ``[0]`` for a one-element list)."""
    data = _base()
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        if part.endswith("[0]"):
            child: dict[str, Any] = {}
            node[part.removesuffix("[0]")] = [child]
        else:
            child = node.setdefault(part, {})
        node = child
    node[parts[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("api_token", "abc123"),
        ("labelstudio.token", "0123456789abcdef"),
        ("labelstudio.password", "hunter2hunter2"),
        ("labelstudio.API_KEY", "k-1"),
        ("model.head.params.api-key", "k-2"),
        ("rounds.params.client_secret", "s3cr3t"),
        ("model.head.params.aws_secret_access_key", "AKIA/xyz"),
        ("model.head.params.private_key", "-----BEGIN KEY-----"),
        ("ops.passwd", "pw"),
        ("model.head.params.pin_password", 123456),
        ("model.head.params.layers[0].auth_token", "t-in-a-list"),
    ],
)
def test_secret_like_keys_are_refused_at_any_depth_naming_the_path(path: str, value: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_nested(path, value), base_dir=tmp_path)
    message = str(err.value)
    assert f"{path}: " in message and "environment" in message
    assert str(value) not in message, "the error must not repeat the secret"


def test_a_yaml_file_with_a_secret_names_the_file_and_key(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump({**_base(), "labelstudio": {"url": "http://ls.example", "token": "abc"}}))
    with pytest.raises(ConfigError, match=r"labelstudio\.token: secrets are not read from config files.*environment"):
        load_config(p)


@pytest.mark.parametrize(
    "extra",
    [
        {"labelstudio": {"token_env": "MY_LS_TOKEN", "project_key": "k"}},
        {"privacy": {"hash_key_env": "MY_HASH_KEY"}},
        {"model": {"head": {"params": {"token_pattern": None}}}},
    ],
)
def test_names_of_environment_variables_and_empty_values_are_allowed(extra: dict[str, Any], tmp_path: Path) -> None:
    parse_config({**_base(), **extra}, base_dir=tmp_path)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0: every file would be world-readable unless created private on purpose."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_file_and_its_wal_are_0600_even_with_umask_0(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "w" / "labelloop.db"
    engine = create_store_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('x')"))
        wal = db.with_name(db.name + "-wal")
        assert wal.exists(), "WAL mode expected"
        assert _mode(wal) == 0o600
    engine.dispose()
    assert _mode(db) == 0o600
    assert _mode(db.parent) == 0o700


def test_a_world_readable_store_file_is_made_private_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "labelloop.db"
    db.touch()
    db.chmod(0o644)
    create_store_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600


def test_identity_key_and_label_studio_credentials_are_0600_with_umask_0(tmp_path: Path, open_umask: None) -> None:
    load_or_create_key(tmp_path / "w")
    assert _mode(tmp_path / "w" / "identity.key") == 0o600
    config = server.ServerConfig(data_dir=tmp_path / "ls", port=18080)
    creds = server.admin_credentials(config)
    assert _mode(server.credentials_path(config)) == 0o600
    assert creds.token not in repr(creds) and creds.password not in repr(creds)


def test_label_studio_defaults_are_loopback_and_signup_by_invite_only(tmp_path: Path) -> None:
    config = server.ServerConfig(data_dir=tmp_path / "ls")
    assert config.host == "127.0.0.1"
    cmd = server.build_start_command(config)
    assert cmd[cmd.index("--internal-host") + 1] == "127.0.0.1"
    creds = server.Credentials(email="a@b.c", password="pw-x", token="tok-x")
    env = server.build_env(config, creds, {"HOST": "0.0.0.0", "LABEL_STUDIO_HOST": "0.0.0.0"})
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert "HOST" not in env and "LABEL_STUDIO_HOST" not in env
    assert not any("tok-x" in part or "pw-x" in part for part in cmd)
    with pytest.raises(ValueError, match="loopback"):
        server.ServerConfig(data_dir=tmp_path / "ls", host="0.0.0.0")


PII_TEXT = "Mail jane.roe@example.org or call 212-555-0187 about card 4111 1111 1111 1111."


def test_redaction_with_debug_logging_writes_no_pii(caplog: pytest.LogCaptureFixture) -> None:
    """Presidio logs the words around each finding at DEBUG; the redactor caps its logger so a DEBUG run of
    labelloop never writes them. The first half shows the leak is real when the cap is lifted."""
    from labelloop.engine.privacy.redactor import Redactor

    redactor = Redactor()  # with the spaCy model: its lemmas are the context words presidio logs
    presidio = logging.getLogger("presidio-analyzer")
    capped = presidio.level
    assert capped == logging.INFO
    caplog.set_level(logging.DEBUG)
    try:
        presidio.setLevel(logging.DEBUG)
        redactor.redact(PII_TEXT)
        assert "jane.roe@example.org" in caplog.text, "presidio no longer logs context: this test needs updating"
    finally:
        presidio.setLevel(capped)
    caplog.clear()
    result = redactor.redact(PII_TEXT)
    assert "jane.roe@example.org" not in result.text and "212-555-0187" not in result.text
    for value in ("jane.roe", "212-555-0187", "4111 1111 1111 1111"):
        assert value not in caplog.text
