#!/usr/bin/env bash
# Runs Drover's coordinator on this machine with its own local PostgreSQL
# (kept under ./var and reused on the next run), or against your database.
#
#   deploy/quickstart.sh                   build, start PostgreSQL and the coordinator (foreground)
#   deploy/quickstart.sh --detach          the same, in the background
#   deploy/quickstart.sh --stop            stop what --detach started
#   deploy/quickstart.sh --database=URL    use your own PostgreSQL instead
#
# Options: --data-dir=DIR (default ./var), --grpc-port=N (7600),
# --metrics-port=N (7601), --pg-port=N (7632), --help.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA_DIR="$ROOT/var"
GRPC_PORT=7600
METRICS_PORT=7601
PG_PORT=7632
DATABASE=""
DETACH=0
STOP=0

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "quickstart: $*" >&2; exit 2; }

for arg in "$@"; do
  case "$arg" in
    --detach) DETACH=1 ;;
    --stop) STOP=1 ;;
    --database=*) DATABASE=${arg#*=} ;;
    --data-dir=*) DATA_DIR=$(realpath -m "${arg#*=}") ;;
    --grpc-port=*) GRPC_PORT=${arg#*=} ;;
    --metrics-port=*) METRICS_PORT=${arg#*=} ;;
    --pg-port=*) PG_PORT=${arg#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done
for p in "$GRPC_PORT" "$METRICS_PORT" "$PG_PORT"; do
  [[ "$p" =~ ^[0-9]+$ && "$p" -ge 1 && "$p" -le 65535 ]] || die "port '$p' is not a number in 1..65535"
done

PG="$ROOT/deploy/lib/pg.sh"
PID_FILE="$DATA_DIR/coordinator.pid"
LOG_FILE="$DATA_DIR/coordinator.log"
READY_FILE="$DATA_DIR/coordinator.ready"

stop_all() {
  if [[ -f "$PID_FILE" ]]; then
    pid=$(cat "$PID_FILE")
    # A stale pid file (after a reboot) may name an unrelated process.
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q drover-coordinator; then
      kill -TERM "$pid"
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "quickstart: coordinator $pid did not stop; sending SIGKILL" >&2; kill -KILL "$pid"; }
      echo "quickstart: coordinator stopped"
    fi
    rm -f "$PID_FILE" "$READY_FILE"
  fi
  if [[ -d "$DATA_DIR/postgres/data" ]]; then
    "$PG" stop "$DATA_DIR/postgres" && echo "quickstart: PostgreSQL stopped"
  fi
}

if [[ $STOP -eq 1 ]]; then
  stop_all
  exit 0
fi

if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  die "a coordinator started from $DATA_DIR is already running (pid $(cat "$PID_FILE")): run $0 --stop first"
fi

"$ROOT/deploy/install-deps.sh"
echo "quickstart: building (first time takes a few minutes)..."
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target drover-coordinator >/dev/null

mkdir -p "$DATA_DIR"
if [[ -z "$DATABASE" ]]; then
  "$PG" init "$DATA_DIR/postgres"
  "$PG" start "$DATA_DIR/postgres" "$PG_PORT"
  "$PG" createdb "$DATA_DIR/postgres" "$PG_PORT" drover
  DATABASE=$("$PG" url "$DATA_DIR/postgres" "$PG_PORT" drover)
  echo "quickstart: PostgreSQL running on 127.0.0.1:$PG_PORT (data in $DATA_DIR/postgres)"
fi

rm -f "$READY_FILE"
ARGS=(--database="$DATABASE" --grpc_listen="127.0.0.1:$GRPC_PORT" --metrics_listen="127.0.0.1:$METRICS_PORT"
      --ready_file="$READY_FILE")

print_addresses() {
  echo "quickstart: coordinator ready"
  echo "  gRPC:    $(sed -n 's/^grpc=//p' "$READY_FILE")"
  echo "  metrics: http://$(sed -n 's/^metrics=//p' "$READY_FILE")/metrics"
}

if [[ $DETACH -eq 1 ]]; then
  nohup "$BUILD/bin/drover-coordinator" "${ARGS[@]}" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 600); do
    [[ -f "$READY_FILE" ]] && break
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { cat "$LOG_FILE" >&2; rm -f "$PID_FILE"; die "coordinator failed to start (log above)"; }
    sleep 0.1
  done
  [[ -f "$READY_FILE" ]] || die "coordinator not ready after 60 s; see $LOG_FILE"
  print_addresses
  echo "  log:     $LOG_FILE"
  echo "  stop:    $0 --stop"
else
  # Foreground: Ctrl-C stops the coordinator; PostgreSQL keeps running for
  # the next start ($0 --stop stops it).
  "$BUILD/bin/drover-coordinator" "${ARGS[@]}" &
  pid=$!
  echo $pid >"$PID_FILE"
  trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
  for _ in $(seq 600); do
    [[ -f "$READY_FILE" ]] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  [[ -f "$READY_FILE" ]] && print_addresses
  set +e
  wait $pid; rc=$?
  wait $pid 2>/dev/null; rc2=$?
  [[ $rc -ge 128 ]] && rc=$rc2
  rm -f "$PID_FILE" "$READY_FILE"
  exit $rc
fi
