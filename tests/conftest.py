"""Session-wide test set-up: offline model hubs, quiet Ray, and where the shared datasets live.

The shared datasets sit beside the checkout (``../shared/datasets``); ``LABELLOOP_DATASETS`` overrides that.
They are read in place, never copied.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS_DIR = Path(os.environ.get("LABELLOOP_DATASETS", REPO_ROOT.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared datasets folder; a missing folder is an error, not a skip."""
    if not DATASETS_DIR.is_dir():
        raise RuntimeError(f"shared datasets not found at {DATASETS_DIR} (set LABELLOOP_DATASETS)")
    return DATASETS_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
