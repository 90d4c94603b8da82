#!/usr/bin/env bash
# The nightly labelloop cycle, as cron runs it (see labelloop.cron beside this file): one `labelloop cycle` run with
# its JSON summary next to the log, a start and an end line with the exit code in the log, and that exit code
# returned (0 done, 10 nothing new, 8 gate blocked, 9 lock held, 7 Label Studio unreachable, 4 store, 2 config).
#
# Environment (set in the crontab): LABELLOOP_CONFIG (required), LABELLOOP_LOG_DIR (required),
# LABELLOOP_WORKDIR (optional: the config's workdir otherwise), LABELLOOP_BIN (default: labelloop on PATH).
set -uo pipefail

: "${LABELLOOP_CONFIG:?set LABELLOOP_CONFIG to the project config}"
: "${LABELLOOP_LOG_DIR:?set LABELLOOP_LOG_DIR to the log folder}"
BIN="${LABELLOOP_BIN:-labelloop}"
mkdir -p "$LABELLOOP_LOG_DIR"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export TOKENIZERS_PARALLELISM=false RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"

args=(cycle -c "$LABELLOOP_CONFIG" --summary-file "$LABELLOOP_LOG_DIR/cycle-summary.json")
[[ -n "${LABELLOOP_WORKDIR:-}" ]] && args+=(-w "$LABELLOOP_WORKDIR")
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) labelloop cycle start config=$LABELLOOP_CONFIG pid=$$"
"$BIN" -v "${args[@]}"
rc=$?
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) labelloop cycle end exit=$rc summary=$LABELLOOP_LOG_DIR/cycle-summary.json"
exit "$rc"
