#!/usr/bin/env bash
# A private PostgreSQL server for the label store (team set-ups, and the store tests' PostgreSQL leg).
#
#   bash scripts/postgres.sh install        # find pg_ctl/initdb (PATH, /usr/lib/postgresql/*/bin); apt-get if missing
#   bash scripts/postgres.sh start          # install if needed, initdb once, start; prints the SQLAlchemy URL
#   bash scripts/postgres.sh createdb NAME  # create database NAME (no-op if it exists); prints its URL
#   bash scripts/postgres.sh url [NAME]     # the URL of database NAME (default: labelloop)
#   bash scripts/postgres.sh status|stop
#
# The server listens on 127.0.0.1 only, on a free port chosen at first start (kept in $LABELLOOP_PG_ROOT/port),
# with password (SCRAM) authentication for the one role `labelloop`; the generated password sits in a 0600 file.
# postgres refuses to run as root, so as root the server runs as an unprivileged user (LABELLOOP_PG_USER, default
# `postgres`, the Debian package's system user; created if missing) and its files live under /tmp, which that user
# can reach whatever the checkout's permissions. Only the URL goes to stdout; progress goes to stderr.
# LABELLOOP_PG_OPTIONS adds server options at start (the tests pass `-c fsync=off`: they never test durability).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
KEY="$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)"
PG_ROOT="${LABELLOOP_PG_ROOT:-${TMPDIR:-/tmp}/labelloop-pg-$KEY}"
PG_USER="${LABELLOOP_PG_USER:-postgres}"
PG_ROLE=labelloop
PG_DB=labelloop
DATA="$PG_ROOT/data"
RUN="$PG_ROOT/run"
LOG="$PG_ROOT/server.log"

say() { echo "postgres.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# -- binaries ------------------------------------------------------------------------------------------------------
find_bindir() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  # Debian/Ubuntu keep the server binaries off PATH; take the newest major version.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [[ -x "$d/pg_ctl" && -x "$d/initdb" ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

cmd_install() {
  if BIN="$(find_bindir)"; then
    say "found PostgreSQL binaries in $BIN ($("$BIN/postgres" --version))"
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is missing: install PostgreSQL"
  say "installing PostgreSQL with apt-get (one time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN="$(find_bindir)" || die "apt-get installed postgresql but no pg_ctl/initdb was found"
  say "installed $("$BIN/postgres" --version) in $BIN"
}

# -- running as an unprivileged user -------------------------------------------------------------------------------
as_pg() {
  # From a folder the server user can enter (initdb and pg_ctl chdir back to the caller's folder).
  if [[ "$(id -u)" == 0 ]]; then
    (cd "$PG_ROOT" && runuser -u "$PG_USER" -- "$@")
  else
    (cd "$PG_ROOT" && "$@")
  fi
}

ensure_user() {
  [[ "$(id -u)" == 0 ]] || return 0
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    say "creating system user $PG_USER"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
}

owner() {
  if [[ "$(id -u)" == 0 ]]; then echo "$PG_USER"; else id -un; fi
}

free_port() { # a port nothing on 127.0.0.1 answers on, below Linux's ephemeral range
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

password() { cat "$PG_ROOT/password"; }
port() { cat "$PG_ROOT/port"; }

url() {
  echo "postgresql+psycopg://$PG_ROLE:$(password)@127.0.0.1:$(port)/${1:-$PG_DB}"
}

is_running() {
  [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

cmd_init() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  ensure_user
  mkdir -p "$PG_ROOT"
  chmod 0755 "$PG_ROOT"
  (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PG_ROOT/password")
  rm -rf "$DATA" "$RUN"
  mkdir -p "$DATA" "$RUN"
  chmod 0700 "$DATA"
  chown "$(owner)" "$DATA" "$RUN"
  # initdb reads the password from a file the server user can read; it is removed right after.
  local pwfile="$RUN/initpw"
  cp "$PG_ROOT/password" "$pwfile"
  chown "$(owner)" "$pwfile"
  say "initdb $DATA (role $PG_ROLE, scram-sha-256 on 127.0.0.1)"
  as_pg "$BIN/initdb" -D "$DATA" -U "$PG_ROLE" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 >&2
  rm -f "$pwfile"
  # Loopback only: no rule for other addresses, and the server listens on 127.0.0.1 alone.
  as_pg sh -c "printf '%s\n' 'local all all scram-sha-256' 'host all all 127.0.0.1/32 scram-sha-256' > '$DATA/pg_hba.conf'"
}

cmd_start() {
  cmd_install
  cmd_init
  if is_running; then
    say "already running on 127.0.0.1:$(port)"
  else
    local p
    p="${LABELLOOP_PG_PORT:-$(free_port)}"
    echo "$p" >"$PG_ROOT/port"
    touch "$LOG"
    chown "$(owner)" "$LOG"
    say "starting on 127.0.0.1:$p (log $LOG)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $p -c unix_socket_directories=$RUN ${LABELLOOP_PG_OPTIONS:-}" >&2 \
      || { tail -20 "$LOG" >&2; die "server did not start"; }
  fi
  cmd_createdb "$PG_DB" >/dev/null
  url "$PG_DB"
}

cmd_createdb() {
  local name="${1:?usage: createdb NAME}"
  [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name $name: use lower-case letters, digits and _"
  is_running || die "server is not running: bash scripts/postgres.sh start"
  local exists
  exists="$(PGPASSWORD="$(password)" "$BIN/psql" -h 127.0.0.1 -p "$(port)" -U "$PG_ROLE" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$name'")"
  if [[ "$exists" != 1 ]]; then
    PGPASSWORD="$(password)" "$BIN/createdb" -h 127.0.0.1 -p "$(port)" -U "$PG_ROLE" "$name"
  fi
  url "$name"
}

cmd_stop() {
  if is_running; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
  else
    say "not running"
  fi
}

cmd_status() {
  if is_running; then
    say "running on 127.0.0.1:$(port), data $DATA"
  else
    say "not running (data ${DATA})"
    return 3
  fi
}

action="${1:-}"
shift || true
case "$action" in
  install) cmd_install ;;
  start) cmd_start ;;
  createdb | url | stop | status)
    BIN="$(find_bindir)" || die "PostgreSQL is not installed: bash scripts/postgres.sh install"
    case "$action" in
      createdb) cmd_createdb "$@" ;;
      url) url "$@" ;;
      stop) cmd_stop ;;
      status) cmd_status ;;
    esac
    ;;
  *) die "usage: $0 install|start|createdb NAME|url [NAME]|status|stop" ;;
esac
