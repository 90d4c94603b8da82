"""One real Label Studio for the whole test session (first boot ≈35–55 s: migrations), in a tmp data dir on a free
port, installed into ``.venvs/labelstudio`` on first use (≈60–95 s once per machine). Stopped at the end.

``LABELLOOP_LS_URL`` + ``LABELLOOP_LS_TOKEN`` reuse an already running server instead (annotator users then need
that server's data dir: ``LABELLOOP_LS_DATA_DIR``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.ServerConfig]:
    data_dir = os.environ.get("LABELLOOP_LS_DATA_DIR")
    if data_dir:
        config = server.ServerConfig(data_dir=Path(data_dir), port=int(os.environ.get("LABELLOOP_LS_PORT", "8080")))
        server.start(config)
        yield config
        return
    config = server.ServerConfig(data_dir=tmp_path_factory.mktemp("labelstudio"), port=server.free_port())
    server.start(config, timeout_s=400)
    try:
        yield config
    finally:
        server.stop(config)


@pytest.fixture(scope="session")
def ls_client(ls_server: server.ServerConfig) -> LabelStudioClient:
    return connect(ls_server.url, server.admin_token(ls_server))


@pytest.fixture(scope="session")
def annotators(ls_server: server.ServerConfig) -> dict[str, LabelStudioClient]:
    """Two annotator users, each connected with its own token (so ``completed_by`` is that user)."""
    emails = ["ann.one@labelloop.test", "ann.two@labelloop.test"]
    return {email: connect(ls_server.url, server.ensure_user(email, ls_server)) for email in emails}


@pytest.fixture
def project_key() -> str:
    """A fresh key per test, so tests never share a project."""
    return f"test-{uuid.uuid4().hex[:12]}"
