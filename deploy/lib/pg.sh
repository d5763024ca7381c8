#!/usr/bin/env bash
# A private PostgreSQL cluster under a directory of ours, for the quickstart,
# the tests and the benchmark. Runs as an unprivileged user when we are root
# (initdb refuses root). Usage:
#   pg.sh init  DIR            create the cluster (no-op if it exists)
#   pg.sh start DIR PORT       start it on 127.0.0.1:PORT (no-op if running)
#   pg.sh stop  DIR [MODE]     stop it (MODE: fast, the default, or immediate)
#   pg.sh url   DIR PORT [DB]  print the connection URL (DB defaults to drover)
#   pg.sh createdb DIR PORT DB create a database (no-op if it exists)
#   pg.sh status DIR           exit 0 when running
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n "$d" && -x "$d/initdb" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql: run deploy/install-deps.sh"
  echo "$d"
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || die "usage: pg.sh init|start|stop|url|createdb|status DIR [PORT] [...]"
dir=$(realpath -m "$dir")
data="$dir/data"
BIN=$(pg_bin)

case "$cmd" in
  init)
    if [[ -f "$data/PG_VERSION" ]]; then exit 0; fi
    umask 077
    mkdir -p "$dir/run"
    [[ -f "$dir/password" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/password"
    if [[ $(id -u) -eq 0 ]]; then
      id postgres >/dev/null 2>&1 || die "user 'postgres' missing: install the postgresql package (deploy/install-deps.sh)"
      chown -R postgres: "$dir"
      runuser -u postgres -- test -w "$dir" \
        || die "user 'postgres' cannot reach $dir (a parent directory is private): choose a data directory outside it, e.g. --data-dir=/var/lib/drover"
    fi
    as_owner "$BIN/initdb" -D "$data" -U drover --pwfile="$dir/password" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed in $data"; }
    cat >>"$data/postgresql.conf" <<CONF
# Drover's private cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
# Local connections are trusted: only the owner (and root) may reach the socket.
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 512MB
max_wal_size = 4GB
checkpoint_timeout = 15min
synchronous_commit = on
fsync = on
log_min_messages = warning
CONF
    ;;
  start)
    port=${3:?port}
    if as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      running=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null)
      [[ "$running" == "$port" ]] || die "the cluster in $dir already runs on port $running, not $port: stop it first"
      exit 0
    fi
    as_owner "$BIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 -o "-p $port" start >/dev/null \
      || { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start on port $port (log: $dir/postgres.log)"; }
    ;;
  stop)
    mode=${3:-fast}
    if ! as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then exit 0; fi
    as_owner "$BIN/pg_ctl" -D "$data" -w -t 60 -m "$mode" stop >/dev/null
    ;;
  status)
    as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
    ;;
  url)
    port=${3:?port}; db=${4:-drover}
    echo "postgresql://drover:$(cat "$dir/password")@127.0.0.1:$port/$db"
    ;;
  createdb)
    port=${3:?port}; db=${4:?database name}
    exists=$("$BIN/psql" -h "$dir/run" -p "$port" -U drover -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
    [[ "$exists" == 1 ]] || "$BIN/psql" -h "$dir/run" -p "$port" -U drover -d postgres -qc "CREATE DATABASE \"$db\"" >/dev/null
    ;;
  *) die "unknown command '$cmd'" ;;
esac
