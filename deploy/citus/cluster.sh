#!/usr/bin/env bash
# A local Citus cluster (distributed PostgreSQL): one coordinator and two
# workers, each an ordinary PostgreSQL data directory under DIR, on ports
# PORT (the coordinator, the one Drover connects to), PORT+1 and PORT+2.
# For trying Drover's Citus mode and for tests/citus.sh; a production cluster
# runs its nodes on separate machines (docs/scale.md).
#
#   deploy/citus/cluster.sh start DIR [PORT]   create (first time) and start it; PORT defaults to 7640
#   deploy/citus/cluster.sh stop DIR           stop the three nodes
#   deploy/citus/cluster.sh url DIR [PORT] [DB] print the coordinator's URL (DB defaults to drover)
#   deploy/citus/cluster.sh status DIR         exit 0 when all three run
#   deploy/citus/cluster.sh createdb DIR PORT DB  one more database, ready as drover is
#   deploy/citus/cluster.sh dropdb DIR PORT DB    drop it from every node
#
# It needs the citus extension installed into this PostgreSQL (it is not a
# Debian package); without it, it says how to build it and exits non-zero.
# The database DB (drover) is created on every node with the extension, and
# the workers are registered with the coordinator; the nodes reach each other
# over 127.0.0.1 with the cluster's password (pg_dist_authinfo).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PG="$HERE/../lib/pg.sh"
DB=drover

die() { echo "citus/cluster.sh: $*" >&2; exit 1; }

# DROVER_PG_BIN: PostgreSQL's bin directory (default: the newest installed).
pg_bin() {
  if [[ -n "${DROVER_PG_BIN:-}" ]]; then echo "$DROVER_PG_BIN"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

citus_installed() {
  local bin libdir sharedir
  bin=$(pg_bin)
  [[ -n "$bin" ]] || return 1
  libdir=$("$bin/pg_config" --pkglibdir 2>/dev/null || echo "$bin/../lib")
  sharedir=$("$bin/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)
  [[ -f "$libdir/citus.so" && -f "$sharedir/extension/citus.control" ]]
}

how_to_build() {
  cat >&2 <<'EOF'
citus/cluster.sh: the citus extension is not installed in this PostgreSQL
(no citus.so / citus.control). It is not a Debian package; build it from source
(a few minutes on 2 cores), as root:

  apt-get install -y postgresql-server-dev-15 liblz4-dev libzstd-dev libkrb5-dev \
      libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev
  git clone --branch v13.0.5 --depth 1 https://github.com/citusdata/citus.git
  cd citus && ./configure --without-libcurl && make -j2 && make install

v13.0.5 is the newest release that builds against Debian 12's PostgreSQL 15.
EOF
  exit 3
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || die "usage: cluster.sh start|stop|url|status|createdb|dropdb DIR [PORT] [DB]"
dir=$(realpath -m "$dir")
port=${3:-7640}
[[ "$port" =~ ^[0-9]+$ && "$port" -ge 1024 && "$port" -le 65533 ]] || die "port '$port' is not a number in 1024..65533"
nodes=(coordinator worker1 worker2)

psql_node() { # NODE_INDEX SQL...
  local i=$1; shift
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/${nodes[$i]}/run" -p $((port + i)) -U drover -d "$DB" "$@"
}

# Creates $DB on every node with the extension, and registers the workers in
# the coordinator's copy: Citus keeps its node list per database.
create_database() {
  local pw i
  pw=$(cat "$dir/coordinator/password")
  for i in 0 1 2; do
    "$PG" createdb "$dir/${nodes[$i]}" $((port + i)) "$DB"
    psql_node "$i" -c "CREATE EXTENSION IF NOT EXISTS citus" \
      -c "INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, 'drover', 'password=$pw') ON CONFLICT DO NOTHING"
  done
  psql_node 0 -c "SELECT citus_set_coordinator_host('127.0.0.1', $port)" \
    -c "SELECT citus_add_node('127.0.0.1', $((port + 1)))" \
    -c "SELECT citus_add_node('127.0.0.1', $((port + 2)))" >/dev/null
}

case "$cmd" in
  start)
    citus_installed || how_to_build
    mkdir -p "$dir"
    first=0
    [[ -f "$dir/coordinator/data/PG_VERSION" ]] || first=1
    if [[ $first -eq 1 ]]; then
      umask 077
      mkdir -p "$dir/coordinator"
      [[ -f "$dir/coordinator/password" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/coordinator/password"
      for n in "${nodes[@]}"; do
        mkdir -p "$dir/$n"
        [[ "$n" == coordinator ]] || cp "$dir/coordinator/password" "$dir/$n/password"
        "$PG" init "$dir/$n"
        # Citus must be loaded at server start; the settings are for a
        # cluster sharing one small machine (docs/scale.md).
        as_postgres tee -a "$dir/$n/data/postgresql.conf" >/dev/null <<CONF
# Citus node ($n)
shared_preload_libraries = 'citus'
shared_buffers = 256MB
max_connections = 600
citus.max_client_connections = 200
# Citus runs a maintenance worker per database (the tests make many).
max_worker_processes = 256
CONF
      done
      # The coordinator also accepts connections from the workers.
      [[ $(id -u) -eq 0 ]] && chown -R postgres: "$dir"
    fi
    for i in 0 1 2; do
      "$PG" start "$dir/${nodes[$i]}" $((port + i))
    done
    [[ $first -eq 1 ]] && create_database
    workers=$(psql_node 0 -tAc "SELECT count(*) FROM citus_get_active_worker_nodes()")
    [[ "$workers" == 2 ]] || die "the coordinator on port $port sees $workers active workers, not 2 (logs: $dir/*/postgres.log)"
    ;;
  dropdb)
    DB=${4:?database name}
    [[ "$DB" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name '$DB' is not a lower-case identifier"
    for i in 0 1 2; do
      "$(pg_bin)/psql" -X -q -h "$dir/${nodes[$i]}/run" -p $((port + i)) -U drover -d postgres \
        -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)"
    done
    ;;
  createdb)
    DB=${4:?database name}
    [[ "$DB" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name '$DB' is not a lower-case identifier"
    "$0" status "$dir" || die "the cluster in $dir is not running: start it first"
    create_database
    ;;
  stop)
    for n in worker2 worker1 coordinator; do
      [[ -d "$dir/$n" ]] && "$PG" stop "$dir/$n"
    done
    ;;
  status)
    for n in "${nodes[@]}"; do "$PG" status "$dir/$n" || exit 1; done
    ;;
  url)
    "$PG" url "$dir/coordinator" "$port" "${4:-$DB}"
    ;;
  *) die "unknown command '$cmd'" ;;
esac
