"""A PNG of a report page as a person sees it: Debian's headless Chromium, started with no network chatter (this
machine's network is closed; without these flags Chromium keeps trying to reach its services)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ChromiumMissing(RuntimeError):
    """No Chromium binary: install Debian's ``chromium`` (``make chromium-install``)."""


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing("no chromium on PATH; install Debian's chromium package (make chromium-install)")


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="labelloop-chromium-") as profile:
        cmd = [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)


def screenshot(
    html_path: Path, png_path: Path, *, width: int = 1200, height: int = 3000, timeout_s: float = 120
) -> Path:
    """Render ``html_path`` (a local file) and save a ``width`` × ``height`` PNG."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(
        [f"--screenshot={png_path.resolve()}", f"--window-size={width},{height}", html_path.resolve().as_uri()],
        timeout_s,
    )
    if not png_path.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}")
    log.info("screenshot %s -> %s", html_path, png_path)
    return png_path


def rendered_text(html_path: Path, *, timeout_s: float = 120) -> str:
    """The DOM Chromium built from the page (``--dump-dom``): what a browser would show, for tests."""
    proc = _run(["--dump-dom", html_path.resolve().as_uri()], timeout_s)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"chromium could not render {html_path} (exit {proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout
