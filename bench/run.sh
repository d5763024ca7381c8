#!/usr/bin/env bash
# End-to-end benchmark: a throwaway PostgreSQL, a fresh coordinator, drover-bench.
# Usage: bench/run.sh [HOSTS] [drover-bench flags...]     (HOSTS defaults to 2000, at most 5000)
#          TLS, as deployed: a fresh fleet CA and server certificate (ca init), an admin
#          operator token (operators create, in a file), and every simulated host with its
#          own client certificate and its own connection
#        bench/run.sh --plaintext [HOSTS] [drover-bench flags...]   (HOSTS defaults to 2000)
#          the coordinator with --insecure, for comparison; up to 5000 hosts with one
#          connection per host (the TLS shape), beyond that over --channels shared connections
#        bench/run.sh --store [HOSTS] [drover-store-bench flags...]  (HOSTS defaults to 1000000)
#          the ingest statement alone: a throwaway PostgreSQL and drover-store-bench, no coordinator
# The coordinator runs with --report_rate_per_host=0 and --get_target_rate_per_peer=0: the
# per-host and per-address limiters (2 reports/s per host; 100 GetTarget/s per address, and
# every simulated host shares 127.0.0.1) would otherwise cap what is measured.
# Environment:
#   DROVER_BUILD_DIR          build directory (default: <repo>/build)
#   DROVER_COORDINATOR_FLAGS  extra coordinator flags, e.g. "--max_batch=2000 --ingest_writers=3"
#   DROVER_SKIP_BUILD=1       use the binaries already built
#   DROVER_BENCH_PG_PROFILE=1 pg_stat_statements on; prints where PostgreSQL spent its time
#   DROVER_BENCH_CITUS=1      a local 3-node Citus cluster instead of one PostgreSQL
#                             (deploy/citus/cluster.sh; the citus extension must be installed)
#   DROVER_BENCH_CITUS_SHARDS=N shards per distributed table there (default: Citus' 32)
# Progress goes to stderr; stdout gets exactly one line, the bench's summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PG="$ROOT/deploy/lib/pg.sh"
STORE=0
TLS=1
BINS=(drover-coordinator drover-bench)
DEFAULT_HOSTS=2000
if [[ "${1:-}" == "--store" ]]; then STORE=1; TLS=0; BINS=(drover-store-bench); DEFAULT_HOSTS=1000000; shift
elif [[ "${1:-}" == "--plaintext" ]]; then TLS=0; shift; fi
HOSTS=${1:-$DEFAULT_HOSTS}
[[ $# -gt 0 ]] && shift
[[ "$HOSTS" =~ ^[0-9]+$ ]] || { echo "run.sh: host count \"$HOSTS\" is not a number; usage: bench/run.sh [--store|--plaintext] [HOSTS] [bench flags]" >&2; exit 2; }
# One connection per host: checked here too, before PostgreSQL is started for nothing.
if [[ $TLS -eq 1 && $HOSTS -gt 5000 ]]; then
  echo "run.sh: $HOSTS hosts with TLS: every host has its own certificate and connection, at most 5000; use --plaintext for more" >&2
  exit 2
fi

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- Build (make is a no-op when up to date) -------------------------------
if [[ -z "${DROVER_SKIP_BUILD:-}" ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 || die "cmake failed"
  fi
  make -C "$BUILD" -j2 "${BINS[@]}" >&2 || die "build failed in $BUILD"
fi
for bin in "${BINS[@]}"; do
  [[ -x "$BUILD/bin/$bin" ]] || die "$BUILD/bin/$bin is missing: build it, or unset DROVER_SKIP_BUILD"
done

# --- Clean-up on any exit --------------------------------------------------
TMP=$(mktemp -d -t drover-bench.XXXXXX)
# pg.sh runs PostgreSQL as 'postgres' when we are root: it must traverse TMP.
chmod 755 "$TMP"
COORD_PID=""
PG_STARTED=0
cleanup() {
  local rc=$?
  if [[ -n "$COORD_PID" ]] && kill -0 "$COORD_PID" 2>/dev/null; then
    kill -KILL "$COORD_PID" 2>/dev/null || true
    wait "$COORD_PID" 2>/dev/null || true
  fi
  if [[ $PG_STARTED -eq 1 ]]; then
    if [[ -d "$TMP/citus" ]]; then
      for n in worker2 worker1 coordinator; do "$PG" stop "$TMP/citus/$n" immediate >/dev/null 2>&1 || true; done
    else
      "$PG" stop "$TMP/pg" immediate >/dev/null 2>&1 || true
    fi
  fi
  if [[ $rc -ne 0 && -n "${KEEP_LOGS:-}" ]]; then
    log "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops the database: the one PostgreSQL, or every node of the Citus cluster.
stop_database() {
  if [[ -d "$TMP/citus" ]]; then
    "$ROOT/deploy/citus/cluster.sh" stop "$TMP/citus" >&2
  else
    "$PG" stop "$TMP/pg"
  fi
}

# --- PostgreSQL on a free port ---------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -n "${DROVER_BENCH_CITUS:-}" ]]; then
  # A local Citus cluster instead (deploy/citus/cluster.sh): TMP/pg is its
  # coordinator node, whose CPU the bench counts as PostgreSQL's; the two
  # workers share the same cores (docs/scale.md).
  PG_PORT=""
  # Below Linux's ephemeral range (32768-60999): the nodes' own connections
  # to each other take ports there, and could take one meant for a node.
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 12000))
    port_in_use "$p" || port_in_use $((p + 1)) || port_in_use $((p + 2)) && continue
    PG_STARTED=1
    set +e
    "$ROOT/deploy/citus/cluster.sh" start "$TMP/citus" "$p" >&2
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then PG_PORT=$p; break; fi
    [[ $rc -eq 3 ]] && exit 3  # the extension is missing: cluster.sh said how to build it
    # A node that did not start: the next try makes the cluster afresh.
    "$ROOT/deploy/citus/cluster.sh" stop "$TMP/citus" >&2 || true
    rm -rf "$TMP/citus"
  done
  [[ -n "$PG_PORT" ]] || die "could not start a Citus cluster (logs: $TMP/citus/*/postgres.log)"
  ln -s citus/coordinator "$TMP/pg"
  "$ROOT/deploy/citus/cluster.sh" createdb "$TMP/citus" "$PG_PORT" drover_bench
  DB_URL=$("$ROOT/deploy/citus/cluster.sh" url "$TMP/citus" "$PG_PORT" drover_bench)
  if [[ -n "${DROVER_BENCH_CITUS_SHARDS:-}" ]]; then
    [[ "$DROVER_BENCH_CITUS_SHARDS" =~ ^[1-9][0-9]{0,3}$ ]] \
      || die "DROVER_BENCH_CITUS_SHARDS '$DROVER_BENCH_CITUS_SHARDS' is not a number in 1..9999"
    # Read by migration 12 when it distributes the tables.
    psql -X -q "$DB_URL" -c "ALTER DATABASE drover_bench SET citus.shard_count = $DROVER_BENCH_CITUS_SHARDS" >&2
  fi
else
  "$PG" init "$TMP/pg"
  PG_PORT=""
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-)
    port_in_use "$p" && continue
    PG_STARTED=1
    if "$PG" start "$TMP/pg" "$p"; then PG_PORT=$p; break; fi
  done
  [[ -n "$PG_PORT" ]] || die "could not start PostgreSQL on a free port (log: $TMP/pg/postgres.log)"
  "$PG" createdb "$TMP/pg" "$PG_PORT" drover_bench
  DB_URL=$("$PG" url "$TMP/pg" "$PG_PORT" drover_bench)
fi
if [[ -n "${DROVER_BENCH_PG_PROFILE:-}" ]]; then
  # Where PostgreSQL's time goes, per statement (printed at the end).
  preload=pg_stat_statements
  [[ -d "$TMP/citus" ]] && preload=citus,pg_stat_statements  # Citus must stay loaded (and first)
  echo "shared_preload_libraries = '$preload'" >>"$TMP/pg/data/postgresql.conf"
  echo "pg_stat_statements.track = all" >>"$TMP/pg/data/postgresql.conf"
  "$PG" stop "$TMP/pg" >/dev/null
  "$PG" start "$TMP/pg" "$PG_PORT"
  psql -X -q "$DB_URL" -c "CREATE EXTENSION pg_stat_statements" >&2 || die "pg_stat_statements is not available"
fi
log "PostgreSQL on 127.0.0.1:$PG_PORT"
PG_PID=$(head -1 "$TMP/pg/data/postmaster.pid" 2>/dev/null || echo 0)

if [[ $STORE -eq 1 ]]; then
  set +e
  "$BUILD/bin/drover-store-bench" --database="$DB_URL" --hosts="$HOSTS" --postgres_pid="$PG_PID" "$@" \
    | tee "$TMP/bench.out" >&2
  BENCH_RC=${PIPESTATUS[0]}
  set -e
  stop_database
  PG_STARTED=0
  [[ $BENCH_RC -eq 0 ]] || die "drover-store-bench failed with status $BENCH_RC"
  tail -n 1 "$TMP/bench.out"
  exit 0
fi

# --- Coordinator -----------------------------------------------------------
READY="$TMP/ready"
# The URL may hold a password: from a file, never argv (the coordinator refuses that).
(umask 077 && printf '%s\n' "$DB_URL" >"$TMP/database.url")
# The limiters would cap the rates measured (see the top). Heartbeats are
# flushed every second, not every 5 s: a host's heartbeat costs one row write
# whatever the interval (each simulated host beats at most once a turn, as a
# real one every poll), but with 1 s each turn's measured window holds about
# one flush per second of it, where 5 s flushes made it hold none or one
# (drover-bench --warmup_ms says why that matters).
COORD_ARGS=(--database_url_file="$TMP/database.url" --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0
            --ready_file="$READY" --report_rate_per_host=0 --get_target_rate_per_peer=0 --liveness_flush=1s)
BENCH_ARGS=()
if [[ $TLS -eq 1 ]]; then
  # As deployed: the fleet's CA and the coordinator's certificate (keys 0600).
  "$BUILD/bin/drover-coordinator" ca init --ca_dir="$TMP/tls" --fleet=bench >/dev/null 2>"$TMP/ca.log" \
    || { cat "$TMP/ca.log" >&2; die "ca init failed"; }
  COORD_ARGS+=(--fleet=bench --tls_cert_file="$TMP/tls/server.pem" --tls_key_file="$TMP/tls/server.key"
               --host_ca_cert_file="$TMP/tls/ca.pem" --host_ca_key_file="$TMP/tls/ca.key")
  # The bench mints each simulated host's certificate with the same CA, as enrolment would.
  BENCH_ARGS+=(--fleet=bench --tls_ca_file="$TMP/tls/ca.pem" --host_ca_cert_file="$TMP/tls/ca.pem"
               --host_ca_key_file="$TMP/tls/ca.key" --operator_token_file="$TMP/admin.token")
  log "TLS: every host with its own certificate and connection"
else
  COORD_ARGS+=(--insecure)
  # The TLS shape, so the two compare like with like; a million hosts share --channels connections.
  if [[ $HOSTS -le 5000 ]]; then
    BENCH_ARGS+=(--one_connection_per_host)
    log "plaintext (--insecure): one connection per host, as with TLS"
  else
    log "plaintext (--insecure): $HOSTS hosts over shared connections (--channels)"
  fi
fi
# Each connection is a descriptor in the coordinator (and one in the bench).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC2086  # DROVER_COORDINATOR_FLAGS is a list of flags
"$BUILD/bin/drover-coordinator" "${COORD_ARGS[@]}" ${DROVER_COORDINATOR_FLAGS:-} 2>"$TMP/coordinator.log" &
COORD_PID=$!
deadline=$((SECONDS + 90))
until [[ -f "$READY" ]]; do
  if ! kill -0 "$COORD_PID" 2>/dev/null; then
    tail -20 "$TMP/coordinator.log" >&2
    die "the coordinator exited during start-up (log above)"
  fi
  ((SECONDS < deadline)) || { tail -20 "$TMP/coordinator.log" >&2; die "the coordinator was not ready within 90 s"; }
  sleep 0.1
done
GRPC_ADDR=$(sed -n 's/^grpc=//p' "$READY")
METRICS_ADDR=$(sed -n 's/^metrics=//p' "$READY")
log "coordinator pid $COORD_PID: gRPC $GRPC_ADDR, metrics http://$METRICS_ADDR/metrics"
if [[ $TLS -eq 1 ]]; then
  # An admin token for the bench's CreateChannel: written to a 0600 file, never argv.
  "$BUILD/bin/drover-coordinator" operators create --database_url_file="$TMP/database.url" --name=bench --role=admin \
    --token_file="$TMP/admin.token" 2>>"$TMP/ca.log" || { cat "$TMP/ca.log" >&2; die "operators create failed"; }
fi

# --- Bench -----------------------------------------------------------------
set +e
"$BUILD/bin/drover-bench" --target="$GRPC_ADDR" --hosts="$HOSTS" --coordinator_pid="$COORD_PID" --postgres_pid="$PG_PID" \
  "${BENCH_ARGS[@]}" "$@" \
  | tee "$TMP/bench.out" >&2
BENCH_RC=${PIPESTATUS[0]}
set -e

# Group-commit shape, for reading the numbers (the endpoint is best effort).
if command -v curl >/dev/null; then
  if curl -fsS --max-time 5 "http://$METRICS_ADDR/metrics" -o "$TMP/metrics.txt" 2>/dev/null; then
    awk '/^drover_report_batch_size_(sum|count)/ { v[$1] = $2 }
         /^drover_report_batch_commit_duration_seconds_(sum|count)/ { v[$1] = $2 }
         END {
           if (v["drover_report_batch_size_count"] > 0)
             printf "run.sh: coordinator batches: %d, mean size %.1f\n", v["drover_report_batch_size_count"],
               v["drover_report_batch_size_sum"] / v["drover_report_batch_size_count"] > "/dev/stderr"
           if (v["drover_report_batch_commit_duration_seconds_count"] > 0)
             printf "run.sh: mean batch commit %.1f ms\n",
               1000 * v["drover_report_batch_commit_duration_seconds_sum"] / v["drover_report_batch_commit_duration_seconds_count"] > "/dev/stderr"
         }' "$TMP/metrics.txt"
  fi
fi

if [[ -n "${DROVER_BENCH_PG_PROFILE:-}" ]]; then
  log "PostgreSQL time per statement (whole run, top 12 by total execution time):"
  psql -X -q "$DB_URL" -P pager=off -c "
    SELECT calls, round(total_exec_time)::bigint AS total_ms,
           round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
           round((total_exec_time / greatest(calls, 1))::numeric, 3) AS mean_ms, rows,
           round((1000 * total_exec_time / greatest(rows, 1))::numeric, 1) AS us_per_row,
           left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" >&2 || true
  log "tables written most (dead rows left for vacuum, autovacuum runs):"
  psql -X -q "$DB_URL" -P pager=off -c "
    SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count
    FROM pg_stat_user_tables ORDER BY n_tup_upd + n_tup_ins DESC LIMIT 8" >&2 || true
  psql -X -q "$DB_URL" -P pager=off -c "
    SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes) AS wal, wal_sync, round(wal_sync_time) AS sync_ms,
           (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints
    FROM pg_stat_wal" >&2 || true
fi

# Bloat after the run (issue 17): each table's and index's size, and the
# share of each table's row versions that are dead (left for vacuum). The
# partitions of update_events and audit_events are tables of their own.
log "tables after the run (largest first): size, dead row versions, autovacuum runs"
psql -X -q "$DB_URL" -P pager=off -c "
  SELECT s.relname AS table, pg_size_pretty(pg_table_size(s.relid)) AS heap,
         pg_size_pretty(pg_indexes_size(s.relid)) AS indexes, s.n_live_tup AS live, s.n_dead_tup AS dead,
         round(100.0 * s.n_dead_tup / greatest(s.n_live_tup + s.n_dead_tup, 1), 1) AS dead_pct,
         s.autovacuum_count AS autovacuums
  FROM pg_stat_user_tables AS s
  WHERE pg_total_relation_size(s.relid) > 16384
  ORDER BY pg_total_relation_size(s.relid) DESC LIMIT 15" >&2 || true
log "indexes after the run (largest first)"
psql -X -q "$DB_URL" -P pager=off -c "
  SELECT i.indexrelname AS index, i.relname AS table, pg_size_pretty(pg_relation_size(i.indexrelid)) AS size
  FROM pg_stat_user_indexes AS i
  WHERE pg_relation_size(i.indexrelid) > 16384
  ORDER BY pg_relation_size(i.indexrelid) DESC LIMIT 15" >&2 || true
# For the summary line: agents' dead share and the database's size.
BLOAT=$(psql -X -A -t -q "$DB_URL" -c "
  SELECT 'agents_dead_pct=' || round(100.0 * n_dead_tup / greatest(n_live_tup + n_dead_tup, 1), 1) ||
         ' database_mib=' || round(pg_database_size(current_database()) / 1048576.0)
  FROM pg_stat_user_tables WHERE relname = 'agents'" 2>/dev/null || true)

# --- Orderly stop: the coordinator must drain and exit 0 ---------------------
kill -TERM "$COORD_PID"
deadline=$((SECONDS + 60))
while kill -0 "$COORD_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
if kill -0 "$COORD_PID" 2>/dev/null; then
  tail -20 "$TMP/coordinator.log" >&2
  die "the coordinator did not exit within 60 s of SIGTERM"
fi
COORD_RC=0
wait "$COORD_PID" || COORD_RC=$?
COORD_PID=""
stop_database
PG_STARTED=0

if [[ $COORD_RC -ne 0 ]]; then
  tail -20 "$TMP/coordinator.log" >&2
  die "the coordinator exited with status $COORD_RC after SIGTERM (log above)"
fi
[[ $BENCH_RC -eq 0 ]] || die "drover-bench failed with status $BENCH_RC"
echo "$(tail -n 1 "$TMP/bench.out")${BLOAT:+ $BLOAT}"
