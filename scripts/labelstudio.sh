#!/usr/bin/env bash
# Thin wrapper: scripts/labelstudio.sh start|stop|status|install|ensure-user EMAIL [--port P] [--data-dir D]
# Runs the server manager with the engine's venv; the server itself lives in .venvs/labelstudio (installed on first use).
# Prints the URL and the token FILE, never the token.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$root/.venv/bin/python"
if [[ ! -x "$py" ]]; then
  echo "error: $py not found; run 'make venv' first" >&2
  exit 2
fi
exec "$py" -m labelloop.connectors.labelstudio.server "$@"
