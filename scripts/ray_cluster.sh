#!/usr/bin/env bash
# A two-node Ray cluster on this machine: a head node and one worker node, each its own `ray start` process with
# its own raylet and object store, reached by drivers at ray://127.0.0.1:PORT (Ray Client), as a real cluster is.
#
#   bash scripts/ray_cluster.sh start    # prints the ray:// address (stdout); progress on stderr
#   bash scripts/ray_cluster.sh status   # alive nodes and CPUs
#   bash scripts/ray_cluster.sh stop
#
# Pre-label on it: model.compute: {backend: ray, ray_address: "ray://127.0.0.1:PORT", actors: 2} in the config.
#
# Isolation from other Ray users on the machine: every file (sessions, sockets, the "current cluster" address file
# that a bare ray.init() would otherwise pick up) lives under LABELLOOP_RAY_ROOT via RAY_TMPDIR, and `stop` ends only
# the two `ray start --block` processes this script started (by pid; their process groups after a grace period),
# never `ray stop`, which kills every Ray process on the machine. Nodes listen on 127.0.0.1.
# Knobs: LABELLOOP_RAY_NODE_CPUS (CPUs per node, default 1), LABELLOOP_RAY_OBJECT_STORE_MB (per node, default 256).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
KEY="$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)"
ROOT="${LABELLOOP_RAY_ROOT:-${TMPDIR:-/tmp}/labelloop-ray-$KEY}"
RAY="${RAY:-$REPO/.venv/bin/ray}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
CPUS="${LABELLOOP_RAY_NODE_CPUS:-1}"
OBJ_BYTES="$((${LABELLOOP_RAY_OBJECT_STORE_MB:-256} * 1024 * 1024))"
export RAY_TMPDIR="$ROOT/tmp"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
export RAY_USAGE_STATS_ENABLED=0
# The Ray Client proxy forks a server per driver while gRPC threads run; gRPC's fork handlers then abort the child
# ("Check failed: next_worker->state == KICKED", ray-project/ray#63202). The child only execs: no handlers needed.
export GRPC_ENABLE_FORK_SUPPORT=false
# On SIGTERM a node drains (waits for its work to move elsewhere) for up to 30 s by default; stopping this whole
# local cluster has nowhere to move work to.
export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="${RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S:-3}"

say() { echo "ray_cluster.sh: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

alive() { [[ -f "$ROOT/$1.pid" ]] && kill -0 "$(cat "$ROOT/$1.pid")" 2>/dev/null; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Alive nodes and cluster CPUs, as a driver joined through the GCS sees them: "NODES CPUS".
cluster_size() {
  "$PY" - "$(cat "$ROOT/gcs_port")" <<'EOF'
import logging, sys
import ray
ray.init(address=f"127.0.0.1:{sys.argv[1]}", logging_level=logging.ERROR, log_to_driver=False)
print(sum(n["Alive"] for n in ray.nodes()), int(ray.cluster_resources().get("CPU", 0)))
EOF
}

launch() { # name, args...: one `ray start --block` in its own session; output to $ROOT/name.log
  local name="$1"
  shift
  setsid "$RAY" start --block --disable-usage-stats --node-ip-address 127.0.0.1 --num-cpus "$CPUS" \
    --object-store-memory "$OBJ_BYTES" "$@" </dev/null >"$ROOT/$name.log" 2>&1 &
  echo $! >"$ROOT/$name.pid"
}

wait_port() { # port, what, pid-name
  local i
  for i in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    alive "$3" || { tail -30 "$ROOT/$3.log" >&2; die "$2 exited during start-up (log $ROOT/$3.log)"; }
    sleep 0.5
  done
  die "$2 did not open port $1 within 120 s (log $ROOT/$3.log)"
}

cmd_start() {
  [[ -x "$RAY" ]] || die "no ray executable at $RAY: make venv"
  if alive head && alive worker; then
    say "already running"
    cat "$ROOT/address"
    return 0
  fi
  cmd_stop 2>/dev/null || true
  mkdir -p "$RAY_TMPDIR"
  local gcs client
  gcs="$(free_port)"
  client="$(free_port)"
  while [[ "$client" == "$gcs" ]]; do client="$(free_port)"; done
  echo "$gcs" >"$ROOT/gcs_port"
  say "head node: GCS 127.0.0.1:$gcs, Ray Client ray://127.0.0.1:$client, $CPUS CPU (log $ROOT/head.log)"
  launch head --head --port "$gcs" --ray-client-server-port "$client" --include-dashboard=false
  wait_port "$gcs" "head node" head
  wait_port "$client" "head node's Ray Client server" head
  say "worker node: joins 127.0.0.1:$gcs, $CPUS CPU (log $ROOT/worker.log)"
  launch worker --address "127.0.0.1:$gcs"
  local i size=""
  for i in $(seq 1 60); do
    alive worker || { tail -30 "$ROOT/worker.log" >&2; die "worker node exited during start-up"; }
    size="$(cluster_size 2>/dev/null || true)"
    [[ "${size%% *}" == 2 ]] && break
    sleep 1
  done
  [[ "${size%% *}" == 2 ]] || die "the cluster did not reach 2 alive nodes (last seen: ${size:-none})"
  echo "ray://127.0.0.1:$client" >"$ROOT/address"
  say "cluster up: $size (nodes CPUs)"
  cat "$ROOT/address"
}

stop_one() { # name: SIGTERM the `ray start --block` (it stops its node's processes), then its process group
  local name="$1" pid i
  [[ -f "$ROOT/$name.pid" ]] || return 0
  pid="$(cat "$ROOT/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
  # Anything of that node still running (its session was started with setsid, so pgid == pid).
  if pgrep -g "$pid" >/dev/null 2>&1; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$ROOT/$name.pid"
}

cmd_stop() {
  # Both at once: each node may drain for up to 30 s after SIGTERM.
  stop_one worker &
  stop_one head &
  wait
  rm -f "$ROOT/address"
  say "stopped"
}

cmd_status() {
  if alive head && alive worker; then
    say "running at $(cat "$ROOT/address"): $(cluster_size) (nodes CPUs)"
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
