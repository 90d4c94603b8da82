#!/usr/bin/env bash
# Submit the nightly cycle as a Ray job: `ray job submit -- labelloop cycle` against a Ray cluster's job server
# (its dashboard address, http://HOST:8265). `ray job submit` waits and streams the job's output (the cycle's JSON
# summary, whose exit_code is the cycle's: 0 done, 10 nothing new, 8 gate blocked, 9 lock held, 7 unreachable,
# 4 store, 2 config).
#
# Exit code: Ray marks the job FAILED for any non-zero exit (10, "nothing new", included) and `ray job submit` then
# exits 1 whatever the cause, so this script reads the job's driver_exit_code back from the job server
# (GET /api/jobs/ID) and exits with labelloop's own code; a scheduler branches on it as on a local run.
# The job runs with the environment of the cluster's raylet: secrets (the Label Studio token, a store password) must
# be set where the cluster was started, or passed with RAY_JOB_RUNTIME_ENV='{"env_vars": {...}}'.
#
#   bash scripts/ray_job.sh CONFIG [WORKDIR]               # RAY_ADDRESS defaults to http://127.0.0.1:8265
#   bash scripts/ray_job.sh --local-cluster CONFIG [WORKDIR]  # start a private local head node, submit, stop it
#
# --local-cluster: one `ray start --head` with the dashboard (job server) on a free port, everything under its own
# RAY_TMPDIR, stopped at exit by its pid (never `ray stop`, which would end every Ray process on the machine).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
RAY="${RAY:-$REPO/.venv/bin/ray}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
LABELLOOP_BIN="${LABELLOOP_BIN:-$REPO/.venv/bin/labelloop}"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}" RAY_USAGE_STATS_ENABLED=0

local_cluster=0
if [[ "${1:-}" == "--local-cluster" ]]; then
  local_cluster=1
  shift
fi
CONFIG="$(realpath "${1:?usage: ray_job.sh [--local-cluster] CONFIG [WORKDIR]}")"
WORKDIR="${2:-}"

head_pid=""
cleanup() {
  if [[ -n "$head_pid" ]]; then
    kill -TERM "$head_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$head_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$head_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [[ "$local_cluster" == 1 ]]; then
  # The job server lives in Ray's dashboard, which needs the ray[default] extras (aiohttp, opencensus, ...).
  if ! "$PY" -c 'import aiohttp, opencensus' 2>/dev/null; then
    echo "ray_job.sh: error: the Ray job server needs ray[default] (pip install -c constraints.txt 'ray[default]')" >&2
    exit 2
  fi
  export RAY_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/labelloop-rayjob.XXXXXX")"
  free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  gcs_port="$(free_port)"
  dash_port="$(free_port)"
  setsid "$RAY" start --head --block --node-ip-address=127.0.0.1 --port="$gcs_port" --num-cpus=1 \
    --include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port="$dash_port" \
    --object-store-memory=$((256 * 1024 * 1024)) --temp-dir="$RAY_TMPDIR" >"$RAY_TMPDIR/head.log" 2>&1 &
  head_pid=$!
  export RAY_ADDRESS="http://127.0.0.1:$dash_port"
  for _ in $(seq 1 180); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('$RAY_ADDRESS/api/version', timeout=2)" 2>/dev/null; then
      break
    fi
    kill -0 "$head_pid" 2>/dev/null || { cat "$RAY_TMPDIR/head.log" >&2; exit 1; }
    sleep 1
  done
  echo "ray_job.sh: local head node pid $head_pid, job server $RAY_ADDRESS" >&2
fi
export RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"

cmd=("$LABELLOOP_BIN" cycle -c "$CONFIG" --json)
[[ -n "$WORKDIR" ]] && cmd+=(-w "$(realpath "$WORKDIR")")
job_id="labelloop-cycle-$(date -u +%Y%m%dT%H%M%S)-$$-$RANDOM"
submit=("$RAY" job submit --address "$RAY_ADDRESS" --submission-id "$job_id")
[[ -n "${RAY_JOB_RUNTIME_ENV:-}" ]] && submit+=(--runtime-env-json "$RAY_JOB_RUNTIME_ENV")
set +e
"${submit[@]}" -- "${cmd[@]}"
ray_rc=$?
# The job's own exit code (labelloop's), from the job server; `ray job submit` says only "failed" (1).
rc="$("$PY" - "$RAY_ADDRESS" "$job_id" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(f"{sys.argv[1]}/api/jobs/{sys.argv[2]}", timeout=30) as r:
    job = json.load(r)
code = job.get("driver_exit_code")
print("" if code is None else int(code))
print(f"ray_job.sh: job {sys.argv[2]} status {job.get('status')}, driver exit code {code}", file=sys.stderr)
EOF
)"
set -e
if [[ -z "$rc" ]]; then # no exit code recorded (the job never started, or the server is gone): ray's verdict
  rc="$ray_rc"
  [[ "$rc" == 0 ]] || rc=7 # the cluster did not run the cycle: "service unreachable", retry later
fi
echo "ray_job.sh: labelloop cycle job $job_id exit $rc (ray job submit exit $ray_rc)" >&2
exit "$rc"
