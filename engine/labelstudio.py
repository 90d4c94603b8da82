"""Reaching the project's Label Studio from its config: the local server labelloop manages, or a team server.

The token is read from the environment variable named by ``labelstudio.token_env``, or, for the local server, from
its 0600 credentials file; it is never taken from YAML, printed or logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.connectors.labelstudio.server import ServerConfig, admin_token, start
from labelloop.engine.config import ConfigError, ProjectConfig

log = logging.getLogger(__name__)


def local_server_config(cfg: ProjectConfig, workdir: Path) -> ServerConfig:
    ls = cfg.labelstudio
    return ServerConfig(data_dir=ls.data_dir or workdir / "labelstudio", port=ls.port)


def open_labelstudio(cfg: ProjectConfig, workdir: Path, *, start_local: bool = True) -> LabelStudioClient:
    """A connected client. ``url: null`` starts (idempotently) the local server first unless ``start_local`` is
    False, in which case a stopped server is reported as unavailable like any other."""
    ls = cfg.labelstudio
    if ls.url is None:
        server = local_server_config(cfg, workdir)
        if start_local:
            start(server)
        token = os.environ.get(ls.token_env) or admin_token(server)
        return connect(server.url, token)
    token = os.environ.get(ls.token_env)
    if not token:
        raise ConfigError(f"labelstudio.token_env: the environment variable {ls.token_env} (API token) is not set")
    return connect(ls.url, token)


def project_key(cfg: ProjectConfig) -> str:
    return cfg.labelstudio.project_key or cfg.project


def ensure_project(client: LabelStudioClient, cfg: ProjectConfig) -> int:
    """The labeling project; a new one gets the taxonomy's instructions, label hints and the triage controls."""
    from labelloop.engine.taxonomy.guidelines import label_hints, render_instructions
    from labelloop.engine.taxonomy.schema import Schema

    schema = Schema.from_task(cfg.task)
    return client.ensure_project(
        project_key(cfg),
        f"labelloop {cfg.project}",
        cfg.task.labels,
        hints=label_hints(schema),
        instruction=render_instructions(schema),
        triage=True,
    )


def ensure_project_for_migration(client: LabelStudioClient, cfg: ProjectConfig) -> int:
    """The labeling project whatever its current labels (a migration is about to change them), created if absent."""
    found = client.find_project(project_key(cfg))
    return found if found is not None else ensure_project(client, cfg)


def review_project_key(cfg: ProjectConfig) -> str:
    return f"{project_key(cfg)}-review"


def ensure_review_project(client: LabelStudioClient, cfg: ProjectConfig) -> int:
    """The reviewers' project: disputed items and suspected label errors, with the evidence above each text."""
    return client.ensure_project(
        review_project_key(cfg), f"labelloop {cfg.project} review", cfg.task.labels, review=True
    )
