#!/usr/bin/env bash
# End-to-end benchmark: a throwaway PostgreSQL, a fresh coordinator, drover-bench.
# Usage: bench/run.sh [HOSTS] [drover-bench flags...]     (HOSTS defaults to 1000000)
#        bench/run.sh --store [HOSTS] [drover-store-bench flags...]
#          the ingest statement alone: a throwaway PostgreSQL and drover-store-bench, no coordinator
# Environment:
#   DROVER_BUILD_DIR          build directory (default: <repo>/build)
#   DROVER_COORDINATOR_FLAGS  extra coordinator flags, e.g. "--max_batch=2000 --ingest_writers=3"
#   DROVER_SKIP_BUILD=1       use the binaries already built
# Progress goes to stderr; stdout gets exactly one line, the bench's summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PG="$ROOT/deploy/lib/pg.sh"
STORE=0
BINS=(drover-coordinator drover-bench)
if [[ "${1:-}" == "--store" ]]; then STORE=1; BINS=(drover-store-bench); shift; fi
HOSTS=${1:-1000000}
[[ $# -gt 0 ]] && shift
[[ "$HOSTS" =~ ^[0-9]+$ ]] || { echo "run.sh: host count \"$HOSTS\" is not a number; usage: bench/run.sh [--store] [HOSTS] [bench flags]" >&2; exit 2; }

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
  if [[ $PG_STARTED -eq 1 ]]; then "$PG" stop "$TMP/pg" immediate >/dev/null 2>&1 || true; fi
  if [[ $rc -ne 0 && -n "${KEEP_LOGS:-}" ]]; then
    log "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL on a free port ---------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
"$PG" init "$TMP/pg"
PG_PORT=""
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  port_in_use "$p" && continue
  PG_STARTED=1
  if "$PG" start "$TMP/pg" "$p"; then PG_PORT=$p; break; fi
done
[[ -n "$PG_PORT" ]] || die "could not start PostgreSQL on a free port (log: $TMP/pg/postgres.log)"
"$PG" createdb "$TMP/pg" "$PG_PORT" drover_bench
DB_URL=$("$PG" url "$TMP/pg" "$PG_PORT" drover_bench)
log "PostgreSQL on 127.0.0.1:$PG_PORT"
PG_PID=$(head -1 "$TMP/pg/data/postmaster.pid" 2>/dev/null || echo 0)

if [[ $STORE -eq 1 ]]; then
  set +e
  "$BUILD/bin/drover-store-bench" --database="$DB_URL" --hosts="$HOSTS" --postgres_pid="$PG_PID" "$@" \
    | tee "$TMP/bench.out" >&2
  BENCH_RC=${PIPESTATUS[0]}
  set -e
  "$PG" stop "$TMP/pg"
  PG_STARTED=0
  [[ $BENCH_RC -eq 0 ]] || die "drover-store-bench failed with status $BENCH_RC"
  tail -n 1 "$TMP/bench.out"
  exit 0
fi

# --- Coordinator -----------------------------------------------------------
READY="$TMP/ready"
# shellcheck disable=SC2086  # DROVER_COORDINATOR_FLAGS is a list of flags
"$BUILD/bin/drover-coordinator" --database="$DB_URL" --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --ready_file="$READY" --insecure ${DROVER_COORDINATOR_FLAGS:-} 2>"$TMP/coordinator.log" &
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

# --- Bench -----------------------------------------------------------------
set +e
"$BUILD/bin/drover-bench" --target="$GRPC_ADDR" --hosts="$HOSTS" --coordinator_pid="$COORD_PID" --postgres_pid="$PG_PID" "$@" \
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
"$PG" stop "$TMP/pg"
PG_STARTED=0

if [[ $COORD_RC -ne 0 ]]; then
  tail -20 "$TMP/coordinator.log" >&2
  die "the coordinator exited with status $COORD_RC after SIGTERM (log above)"
fi
[[ $BENCH_RC -eq 0 ]] || die "drover-bench failed with status $BENCH_RC"
tail -n 1 "$TMP/bench.out"
