"""One real Label Studio for the whole test session, in a tmp data dir on a free port, installed into
``.venvs/labelstudio`` on first use (≈95–190 s once per machine). Stopped at the end.

A first boot runs every migration (≈35–90 s on 2 busy cores), so the first session boots a TEMPLATE data dir
(migrated, admin + two annotators with tokens), stops it, and keeps it inside the server venv (so it is rebuilt when
the pinned versions change). Every session copies the template into its tmp dir and restarts it (≈5–10 s).

``LABELLOOP_LS_URL`` + ``LABELLOOP_LS_TOKEN`` reuse an already running server instead (annotator users then need
that server's data dir: ``LABELLOOP_LS_DATA_DIR``).
"""

from __future__ import annotations

import logging
import os
import shutil
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
    data_dir = tmp_path_factory.mktemp("labelstudio")
    _copy_template(data_dir)
    config = server.ServerConfig(data_dir=data_dir, port=server.free_port())
    server.start(config, timeout_s=400)
    try:
        yield config
    finally:
        server.stop(config)


ANNOTATORS = ("ann.one@labelloop.test", "ann.two@labelloop.test")


def _copy_template(data_dir: Path) -> None:
    """Fill ``data_dir`` from the migrated template, booting the template first if there is none yet."""
    venv_dir = server.ServerConfig().venv_dir
    server.ensure_installed(server.ServerConfig())
    template = venv_dir / "test-data-template"
    with server._file_lock(venv_dir / ".test-template.lock"):
        if not (template / ".complete").is_file():
            shutil.rmtree(template, ignore_errors=True)
            config = server.ServerConfig(data_dir=template, port=server.free_port())
            server.start(config, timeout_s=400)
            try:
                for email in ANNOTATORS:
                    server.ensure_user(email, config)
            finally:
                server.stop(config)
            (template / "server.log").unlink(missing_ok=True)
            (template / ".complete").write_text("ok\n")
            log.info("labelstudio template data dir ready path=%s", template)
    shutil.copytree(template, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", ".complete"))


@pytest.fixture(scope="session")
def ls_client(ls_server: server.ServerConfig) -> LabelStudioClient:
    return connect(ls_server.url, server.admin_token(ls_server))


@pytest.fixture(scope="session")
def annotators(ls_server: server.ServerConfig) -> dict[str, LabelStudioClient]:
    """Two annotator users, each connected with its own token (so ``completed_by`` is that user)."""
    return {email: connect(ls_server.url, server.ensure_user(email, ls_server)) for email in ANNOTATORS}


@pytest.fixture
def project_key() -> str:
    """A fresh key per test, so tests never share a project."""
    return f"test-{uuid.uuid4().hex[:12]}"
